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

from bench.invariants import PRIORITIES, check
from jobsvc.service import Service
from jobsvc.settings import Settings
from tests.helpers import wait_until

SUBMITTERS, PER_SUBMITTER, LANES = 8, 200, 20


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


def test_lane_invariants_hold_under_concurrent_submitters_and_workers(
    svc, env, redis_url, make_worker
):
    make_worker()
    make_worker()
    accepted = run_submitters(redis_url, env)
    ids = sorted(set(accepted))
    wait_until(
        lambda: all(t and t["status"] == "completed" for t in svc.store.get_many(ids)),
        timeout=180,
        what="every accepted task to complete",
        interval=0.5,
    )
    counts = check(svc, accepted)
    assert counts["accepted answers"] == SUBMITTERS * PER_SUBMITTER
    assert (
        counts["lost"],
        counts["overlaps"],
        counts["order violations"],
        counts["duplicate identities"],
    ) == (0, 0, 0, 0), counts
    assert counts["identities reused"] > 0  # identities really came back over time
    assert counts["accepted tasks"] < counts["accepted answers"]  # and some were deduplicated
