"""The contract's invariants 1-4 and 7, checked from the tasks' own histories.

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


def passed(counts: dict) -> bool:
    return all(
        counts[k] == 0
        for k in (
            "lost",
            "overlaps",
            "order violations",
            "duplicate identities",
            "early starts",
            "dependents not skipped",
        )
    )
