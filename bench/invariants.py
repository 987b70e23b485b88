"""The contract's invariants 1-4, 6 and 7, checked from the tasks' own histories
(and, for 6, from what the steps' functions wrote of their runs).

Used by the chaos test (bench/chaos.py) and the concurrency test
(tests/test_concurrency.py): given the ids a set of submitters was answered
with, count what was lost, any two attempts of one lane that overlap, any
start out of acceptance order within a lane and priority, any dedupe
identity that held two tasks at once, any start of a task before each of
its dependencies had completed, and any dependent of a dependency that did
not complete that did not end skipped (``dependency_failed``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from jobsvc import keys
from jobsvc.service import Service

PRIORITIES = ("critical", "high", "medium", "low")
ENDED = ("completed", "failed", "canceled", "skipped")


def attempts(task: dict) -> list[tuple[str, str]]:
    """(start, end) of each attempt; ISO times of Redis' one clock sort as text."""
    spans, start = [], None
    for entry in task["history"]:
        if entry["status"] == "running":
            start = entry["at"]
        elif start is not None:
            spans.append((start, entry["at"]))
            start = None
    return spans


def _overlaps_and_order(lane: list[dict], seq: dict[str, int]) -> tuple[int, int]:
    spans = sorted(s for t in lane for s in attempts(t))
    overlaps = sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1])
    order = 0
    for prio in PRIORITIES:
        same = sorted(
            (t for t in lane if t["priority"] == prio and attempts(t)), key=lambda t: seq[t["id"]]
        )
        starts = [attempts(t)[0][0] for t in same]
        order += sum(1 for a, b in zip(starts, starts[1:]) if b < a)
    return overlaps, order


def _duplicates(ended: list[dict], seq: dict[str, int], identity: dict[str, str | None]) -> int:
    windows = defaultdict(list)
    for t in ended:
        if identity[t["id"]]:
            windows[identity[t["id"]]].append(t)
    duplicates = 0
    for group in windows.values():
        group.sort(key=lambda t: seq[t["id"]])
        duplicates += sum(1 for a, b in zip(group, group[1:]) if b["createdAt"] < a["completedAt"])
    return duplicates


def _dependencies(svc: Service, ended: list[dict]) -> tuple[int, int]:
    """(early starts, dependents not skipped): invariant 7 from the histories.

    An attempt of a task starts early unless every task in its ``dependsOn``
    had completed by then; a task whose dependency ended otherwise must have
    ended ``skipped`` with ``dependency_failed``, never run."""
    waiting = [t for t in ended if t["dependsOn"]]
    dep_ids = sorted({d for t in waiting for d in t["dependsOn"]})
    deps = dict(zip(dep_ids, svc.store.get_many(dep_ids)))
    early = not_skipped = 0
    for t in waiting:
        done = [deps[d] for d in t["dependsOn"]]
        completed = [d["completedAt"] for d in done if d and d["status"] == "completed"]
        ready = max(completed) if len(completed) == len(done) else None
        early += sum(1 for start, _ in attempts(t) if ready is None or start < ready)
        if ready is None and (t["error"] or {}).get("reason") != "dependency_failed":
            not_skipped += 1
    return early, not_skipped


def check(svc: Service, accepted: list[str]) -> dict:
    ids = sorted(set(accepted))
    raw = svc.store.client
    with raw.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hmget(keys.task(task_id), "seq", "identity")
        rows = pipe.execute()
    seq = {i: int(row[0] or 0) for i, row in zip(ids, rows)}
    identity = {i: row[1] for i, row in zip(ids, rows)}
    tasks = svc.store.get_many(ids)
    ended = [t for t in tasks if t and t["status"] in ENDED]
    counts: dict = {
        "accepted answers": len(accepted),
        "accepted tasks": len(ids),
        "completed": sum(t["status"] == "completed" for t in ended),
        "retried": sum(t["retryCount"] > 0 for t in ended),
        # Invariant 1: every accepted task exists and has ended (by the deadline).
        "lost": len(ids) - len(ended),
        "of which without a record": sum(t is None for t in tasks),
    }
    for t in ended:
        if t["status"] == "failed":
            name = f"failed ({t['error']['reason']})"
            counts[name] = counts.get(name, 0) + 1
    by_lane = defaultdict(list)
    for t in ended:
        by_lane[t["deployment"]].append(t)
    overlaps = order = 0
    for lane in by_lane.values():
        o, v = _overlaps_and_order(lane, seq)
        overlaps, order = overlaps + o, order + v
    counts.update(
        {
            "overlaps": overlaps,
            "order violations": order,
            "duplicate identities": _duplicates(ended, seq, identity),
            "identities reused": _reused(ended, identity),
        }
    )
    early, not_skipped = _dependencies(svc, ended)
    counts.update(
        {
            "with dependencies": sum(bool(t["dependsOn"]) for t in ended),
            "skipped (dependency_failed)": sum(
                (t["error"] or {}).get("reason") == "dependency_failed" for t in ended
            ),
            "early starts": early,
            "dependents not skipped": not_skipped,
        }
    )
    return counts


def _reused(ended: list[dict], identity: dict[str, str | None]) -> int:
    """How many dedupe identities held more than one task over time (the test's own check)."""
    seen: dict[str, int] = defaultdict(int)
    for t in ended:
        if identity[t["id"]]:
            seen[identity[t["id"]]] += 1
    return sum(1 for n in seen.values() if n > 1)


def rerun_steps(tasks: list[dict | None], runs_dir: Path) -> dict:
    """Invariant 6: a completed step never runs again in a later attempt.

    Each run of a step's function appended ``<step> <attempt> <run id>`` to its
    task's file in ``runs_dir`` (bench/step_tasks.py) and returned its run id,
    which the step's stored result therefore names: a run of the step in an
    attempt after the one of that run is a re-run.  A run in the same or an
    earlier attempt is not (a run its fenced attempt could not record, or the
    run of a frozen attempt that woke late).
    """
    counts = {"multi-step tasks": 0, "step runs": 0, "re-run completed steps": 0}
    for t in tasks:
        path = runs_dir / t["id"] if t else None
        if t is None or path is None or not path.exists():
            continue
        runs = [line.split() for line in path.read_text().splitlines()]
        runs = [r for r in runs if len(r) == 3]
        counts["multi-step tasks"] += 1
        counts["step runs"] += len(runs)
        for step in t["steps"] or []:
            if step["status"] != "completed":
                continue
            done_in = [int(a) for name, a, run in runs if run == step["result"]]
            later = [a for name, a, _ in runs if name == step["name"] and int(a) > done_in[0]]
            counts["re-run completed steps"] += len(later) if done_in else 1
    return counts


# What must be 0 for a run to pass; "re-run completed steps" counts only when
# the run had multi-step tasks.
MUST_BE_ZERO = (
    "lost",
    "overlaps",
    "order violations",
    "duplicate identities",
    "early starts",
    "dependents not skipped",
)


def passed(counts: dict) -> bool:
    return all(counts[k] == 0 for k in MUST_BE_ZERO) and not counts.get("re-run completed steps")
