"""The short chaos run (bench/chaos.py --short): faults while tasks flow, nothing lost,
and every webhook-matching transition delivered or listed as failed (invariant 8)."""

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
    # Invariant 8: deliverers killed, a receiver that answers 500 or late at times.
    assert result["webhook pending at the end"] == 0, result
    assert (
        result["webhook missing"],
        result["webhook bad signatures"],
        result["webhook mismatched"],
        result["webhook without a transition"],
    ) == (0, 0, 0, 0), result
    assert (
        result["webhook transitions"] >= 2 * result["accepted tasks"] - result["with dependencies"]
    )
    assert (
        result["webhook received"] + result["webhook failed-listed"]
        == result["webhook transitions"]
    )
    assert result["faults"]["deliverer killed"] > 0
