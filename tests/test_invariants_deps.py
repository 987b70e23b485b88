"""The chaos checker's invariant 7 (bench/invariants.py), on tasks made up here:
pure logic over task JSON, so a stand-in store hands the dependencies back."""

from __future__ import annotations

from types import SimpleNamespace

from bench.invariants import _dependencies


def task(tid: str, status: str, started: str | None, ended: str, **more) -> dict:
    history = [{"status": "queued", "at": "t0"}]
    if started:
        history.append({"status": "running", "at": started})
    history.append({"status": status, "at": ended})
    return {
        "id": tid,
        "status": status,
        "history": history,
        "completedAt": ended,
        "dependsOn": [],
        "error": None,
        **more,
    }


def checker(*deps: dict) -> SimpleNamespace:
    by_id = {d["id"]: d for d in deps}
    store = SimpleNamespace(get_many=lambda ids: [by_id.get(i) for i in ids])
    return SimpleNamespace(store=store)


def test_a_start_before_the_dependency_completed_is_an_early_start():
    dep = task("d", "completed", "t1", "t5")
    on_time = task("a", "completed", "t5", "t6", dependsOn=["d"])
    early = task("b", "completed", "t4", "t6", dependsOn=["d"])
    assert _dependencies(checker(dep), [on_time]) == (0, 0)
    assert _dependencies(checker(dep), [early]) == (1, 0)


def test_a_dependent_of_a_failed_dependency_must_end_skipped_without_running():
    dep = task("d", "failed", "t1", "t2")
    error = {"reason": "dependency_failed"}
    skipped = task("a", "skipped", None, "t2", dependsOn=["d"], error=error)
    ran = task("b", "completed", "t3", "t4", dependsOn=["d"])
    assert _dependencies(checker(dep), [skipped]) == (0, 0)
    assert _dependencies(checker(dep), [ran]) == (1, 1)
