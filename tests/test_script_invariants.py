"""Invariants the transition scripts keep together, checked after every step of
random walks over the transitions against a real Redis (no workers: the test
claims and finishes attempts through the store, as a worker does).

- ``jobsvc:depths``: each lane's score is the ZCARD of its queue, and a lane
  with nothing waiting is not in the set;
- the tallies: every attempt that ended is counted once (by its status, or
  'retried'), every task that ended without running once too, and a wait is
  counted on a task's first start only.  They are checked against the
  tasks' histories, which every transition writes independently.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from jobsvc import keys
from jobsvc.errors import JobsvcError
from jobsvc.processes import drain
from tests.webhook_setup import deliveries, hooks_env, service

LANES = ("a", "b", "c", "d")
ENDED = ("completed", "failed", "canceled", "skipped")


def depth_mismatches(client: Any) -> list[tuple[str, int, float | None]]:
    """(lane, waiting, score) of each lane whose depth is not its queue's size."""
    lanes = {
        text.removeprefix(keys.lane_queue("")) for text in client.scan_iter(keys.lane_queue("*"))
    }
    lanes |= set(client.zrange(keys.DEPTHS, 0, -1))
    wrong = []
    for lane in sorted(lanes):
        waiting = client.zcard(keys.lane_queue(lane))
        score = client.zscore(keys.DEPTHS, lane)
        if (waiting == 0 and score is not None) or (waiting > 0 and score != waiting):
            wrong.append((lane, waiting, score))
    return wrong


def history_ends(client: Any, task_id: str) -> Counter[str]:
    """What a task's history says about its ends: each ended status, 'retried'
    (an attempt queued again by a retry), and 'started' (its first start)."""
    task = client.hgetall(keys.task(task_id))
    found: Counter[str] = Counter()
    for n in range(1, int(task.get("hn", 0)) + 1):
        entry = task[f"h{n}"].split(" ", 2)
        status, reason = entry[0], entry[2] if len(entry) > 2 else ""
        if status in ENDED:
            found[status] += 1
        elif status == "queued" and reason.startswith("retry: "):
            found["retried"] += 1
    if int(task.get("attempts", 0)) > 0:
        found["started"] += 1
    return found


def tallied(client: Any) -> Counter[str]:
    """The tallies summed the same way: ends by status, waits."""
    out: Counter[str] = Counter()
    for name, value in client.hgetall(keys.TALLIES).items():
        kind, _, rest = name.partition(":")
        if kind == "end":
            out[rest.split(":")[0]] += int(value)
        elif kind == "wait":
            out["started"] += int(value)
    return out


class Walk:
    """Random transitions over a few lanes; ``deleted`` keeps what deleted tasks'
    histories said, as the tallies keep counting them."""

    def __init__(self, svc: Any, rng: random.Random) -> None:
        self.svc, self.store, self.rng = svc, svc.store, rng
        self.client = svc.store.client
        self.ids: list[str] = []
        self.deleted: Counter[str] = Counter()
        self.tokens: dict[str, str] = {}

    def status(self, task_id: str) -> str | None:
        return self.client.hget(keys.task(task_id), "status")

    def some(self, *statuses: str) -> str | None:
        found = [i for i in self.ids if self.status(i) in statuses]
        return self.rng.choice(found) if found else None

    def submit(self) -> None:
        deps = self.rng.sample(self.ids, min(len(self.ids), self.rng.choice((0, 0, 1, 2))))
        try:
            task = self.svc.submit(
                self.rng.choice(LANES),
                "noop",
                priority=self.rng.choice(("high", "medium", "low")),
                retries=self.rng.choice((0, 1)),
                depends_on=deps or None,
            )
        except JobsvcError:  # a deadlock the submit refused, say
            return
        self.ids.append(task.id)

    def claim(self) -> None:
        for lane in self.rng.sample(LANES, len(LANES)):
            active = self.client.hget(keys.lane(lane), "active")
            if active:
                claim = self.store.claim(active, "walker")
                if claim.code == "ok":
                    self.tokens[active] = claim.token
                    return

    def finish(self) -> None:
        task_id = self.some("running")
        if task_id is None:
            return
        outcome = self.rng.choice(("completed", "completed", "failed", "canceled"))
        error = {"message": "no"} if outcome == "failed" else None
        deployment = self.client.hget(keys.task(task_id), "deployment")
        self.store.finish(
            task_id, deployment, self.tokens[task_id], outcome=outcome, error=error, reason="r"
        )

    def reap(self) -> None:
        task_id = self.some("running")
        if task_id is not None:
            deployment = self.client.hget(keys.task(task_id), "deployment")
            self.store.reap(
                task_id,
                deployment,
                self.tokens[task_id],
                reason="stalled",
                error={},
                backoff_ms=0,
                force=True,
            )

    def cancel(self) -> None:
        task_id = self.some("queued", "running")
        if task_id is not None:
            self.store.cancel(task_id)

    def skip(self) -> None:
        task_id = self.some("queued")
        if task_id is not None:
            try:
                self.store.skip(task_id)
            except JobsvcError:  # the lane's active one
                pass

    def retry(self) -> None:
        task_id = self.some("failed", "canceled")
        if task_id is not None:
            try:
                self.store.requeue(task_id)
            except JobsvcError:  # a dependency failed meanwhile
                pass

    def take_due(self) -> None:
        self.store.take_due()

    def drain(self) -> None:
        if self.store.draining():
            drain.resume(self.store)
        else:
            drain.start(self.store)

    def pause(self) -> None:
        lane = self.rng.choice(LANES)
        self.store.set_paused(lane, self.client.hget(keys.lane(lane), "paused") != "1")

    def delete(self) -> None:
        task_id = self.some(*ENDED)
        if task_id is not None:
            before = history_ends(self.client, task_id)
            if self.store.delete(task_id):
                self.deleted += before

    def step(self) -> str:
        ops = [self.submit] * 6 + [self.claim] * 4 + [self.finish] * 4
        ops += [self.reap, self.cancel, self.skip, self.retry, self.take_due, self.delete]
        ops += [self.drain, self.pause] if self.rng.random() < 0.3 else []
        # A drain lasts a few steps: while it holds, nothing starts.
        op = (
            self.drain
            if self.store.draining() and self.rng.random() < 0.3
            else self.rng.choice(ops)
        )
        op()
        return op.__name__

    def expected_tallies(self) -> Counter[str]:
        out = Counter(self.deleted)
        for task_id in self.ids:
            out += history_ends(self.client, task_id)
        return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_transitions_keep_depths_and_tallies(svc, seed):
    walk = Walk(svc, random.Random(seed))
    done = []
    for _ in range(250):
        done.append(walk.step())
        assert depth_mismatches(walk.client) == [], done[-5:]
        assert tallied(walk.client) == walk.expected_tallies(), done[-5:]
    assert Counter(done)["submit"] > 20


def test_a_long_cascade_keeps_depths_and_records_a_delivery_per_skipped_task(env):
    """A failed dependency with more dependents than one script skips (CASCADE_MAX,
    200): the rest wait in jobsvc:cascade for take_due.  Every lane's depth stays
    its queue's size at each stage, and each skipped task gets its task.skipped
    delivery, its snapshot taken after the status was written."""
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.skipped", "task.failed"]))
    svc = service(env)
    client = svc.store.client
    root = svc.submit("root", "noop", retries=0)
    token = svc.store.claim(root.id, "walker").token
    dependents = [svc.submit(f"lane-{i % 10}", "noop", depends_on=[root.id]).id for i in range(230)]
    # Their own dependents, in lanes of their own: the cascade goes on through them.
    dependents += [svc.submit("tail", "noop", depends_on=[dependents[i]]).id for i in range(30)]
    assert depth_mismatches(client) == []

    svc.store.finish(root.id, "root", token, outcome="failed", error={"m": "x"}, retryable=False)
    assert depth_mismatches(client) == []
    assert client.llen(keys.CASCADE) > 0  # one script did not skip them all
    for _ in range(10):
        if not client.exists(keys.CASCADE):
            break
        svc.store.take_due()
        assert depth_mismatches(client) == []
    assert not client.exists(keys.CASCADE)
    assert {client.hget(keys.task(i), "status") for i in dependents} == {"skipped"}
    assert client.zcard(keys.DEPTHS) == 0

    found = deliveries(svc)
    skipped = [d for d in found if d["event"] == "task.skipped"]
    assert sorted(d["taskId"] for d in skipped) == sorted(dependents)
    for d in skipped:
        snapshot = json.loads(client.hget(keys.hook(d["id"]), "task"))
        assert snapshot["fields"]["status"] == "skipped", d
    assert [d["taskId"] for d in found if d["event"] == "task.failed"] == [root.id]
