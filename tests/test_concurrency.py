"""The lane invariants under concurrency, checked from the recorded history.

8 submitter processes x 200 submissions into 20 lanes, with random priorities
and dedupe keys drawn from a small pool (so identities collide often), while
2 worker processes drain the lanes.  Then, from each task's own history:
no task lost, never two active in one lane, FIFO within a lane and priority,
one task per dedupe identity per window.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import defaultdict

import redis

from jobsvc.service import Service
from jobsvc.settings import Settings
from tests.helpers import wait_until

SUBMITTERS, PER_SUBMITTER, LANES = 8, 200, 20
PRIORITIES = ("critical", "high", "medium", "low")


def submitter(url: str, env: dict, seed: int) -> list[str]:
    """One submitting process; returns the task id of every accepted submission."""
    rng = random.Random(seed)
    svc = Service(url, Settings.from_env(env))
    out = []
    for _ in range(PER_SUBMITTER):
        lane = f"lane-{rng.randrange(LANES)}"
        key = f"k{rng.randrange(5)}" if rng.random() < 0.5 else None
        out.append(svc.submit(lane, "noop", priority=rng.choice(PRIORITIES), dedupe_key=key).id)
    return out


def run_submitters(url: str, env: dict) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(SUBMITTERS) as pool:
        results = pool.starmap(submitter, [(url, env, seed) for seed in range(SUBMITTERS)])
    return [task_id for batch in results for task_id in batch]


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


def test_lane_invariants_hold_under_concurrent_submitters_and_workers(
        svc, env, redis_url, make_worker):
    make_worker()
    make_worker()
    accepted = run_submitters(redis_url, env)
    ids = sorted(set(accepted))
    ended = wait_until(
        lambda: (lambda ts: ts if all(t and t["status"] == "completed" for t in ts) else None)(
            svc.store.get_many(ids)),
        timeout=180, what="every accepted task to complete", interval=0.5)

    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    seq = {t["id"]: int(raw.hget(f"jobsvc:t:{t['id']}", "seq")) for t in ended}
    identity = {t["id"]: raw.hget(f"jobsvc:t:{t['id']}", "identity") for t in ended}
    by_lane = defaultdict(list)
    for t in ended:
        by_lane[t["deployment"]].append(t)

    overlaps = order_violations = 0
    for tasks in by_lane.values():
        spans = sorted(span for t in tasks for span in attempts(t))
        overlaps += sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1])
        for prio in PRIORITIES:
            same = sorted((t for t in tasks if t["priority"] == prio), key=lambda t: seq[t["id"]])
            starts = [attempts(t)[0][0] for t in same]
            order_violations += sum(1 for a, b in zip(starts, starts[1:]) if b < a)

    windows = defaultdict(list)
    for t in ended:
        if identity[t["id"]]:
            windows[identity[t["id"]]].append(t)
    duplicates = 0
    for tasks in windows.values():
        tasks.sort(key=lambda t: seq[t["id"]])
        duplicates += sum(1 for a, b in zip(tasks, tasks[1:])
                          if b["createdAt"] < a["completedAt"])

    assert len(accepted) == SUBMITTERS * PER_SUBMITTER
    assert len(ended) == len(ids)  # nothing lost
    assert (overlaps, order_violations, duplicates) == (0, 0, 0)
    assert any(len(ts) > 1 for ts in windows.values())  # identities were really reused
    assert len(ids) < len(accepted)  # and some submissions were deduplicated
