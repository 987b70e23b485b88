"""The short chaos run (bench/chaos.py --short): faults while tasks flow, nothing lost."""

from __future__ import annotations

from bench import chaos


def test_short_chaos_run_keeps_every_invariant(tmp_path):
    result = chaos.run(chaos.SHORT, tmp_path)
    print(result)
    assert (
        result["lost"],
        result["overlaps"],
        result["order violations"],
        result["duplicate identities"],
        result["early starts"],
        result["dependents not skipped"],
        result["re-run completed steps"],
    ) == (0, 0, 0, 0, 0, 0, 0), result
    assert result["faults"]["redis killed and restarted"] == chaos.SHORT.redis_restarts
    assert result["accepted tasks"] > 0 and result["completed"] > 0
    assert result["with dependencies"] > 0
    assert result["multi-step tasks"] > 0 and result["step runs"] > 0
