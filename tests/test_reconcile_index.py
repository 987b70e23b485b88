"""The reconciler's index: a pass costs what is due, and what the index cannot
see (a dispatch popped by a worker that died before marking it, lanes written
before the index) is found by the safety sweep.

Real redis-server, real worker processes where a worker is involved; the
commands a pass sends are counted with ``INFO commandstats`` deltas.
"""

from __future__ import annotations

import time

import pytest
import redis

from jobsvc import keys
from jobsvc.dispatch import POPPED_FIELD, TaskJob, queue_name
from jobsvc.policy import (
    ORPHAN_GRACE_S,
    RECHECK_MAX_S,
    US,
    running_check_at,
    waiting_check_at,
)
from jobsvc.processes import reconcile
from jobsvc.processes.reconcile import Report, reconcile_all, reconcile_lane
from tests.helpers import wait_ended, wait_until

QUEUE = "rq:queue:" + queue_name("standard", "medium")


def command_calls(client: redis.Redis) -> int:
    """Every command Redis has run so far, those run by scripts included."""
    return sum(int(stat["calls"]) for stat in client.info("commandstats").values())


def check_time(svc, deployment: str) -> float | None:
    return svc.store.client.zscore(keys.CHECKS, deployment)


def dispatched(svc, task_id: str) -> str:
    return svc.store.client.hget(keys.task(task_id), "dispatchedAt")


def job_key(task_id: str) -> str:
    return TaskJob.key_for(task_id)


def pop_as_a_dead_worker(svc, task_id: str, mark: bool) -> None:
    """What a worker does before it dies: RQ's pop takes the id out of its queue
    list (the job hash stays); then, if ``mark``, the worker's mark."""
    assert svc.store.client.lpop(QUEUE) == task_id
    if mark:
        assert svc.store.mark_popped(task_id, job_key(task_id), "dead-worker")


def test_pass_with_nothing_late_touches_only_due_lanes(svc, monkeypatch):
    lanes = [f"lane-{i:03}" for i in range(300)]
    for lane in lanes:
        svc.submit(lane, "noop")  # promoted and queued in RQ: no worker runs
    swept: list[str] = []
    real_sweep = svc.store.sweep_lanes

    def sweep(count: int) -> list[str]:  # the real sweep, its lanes noted
        swept[:] = real_sweep(count)
        return swept

    monkeypatch.setattr(svc.store, "sweep_lanes", sweep)
    client = svc.store.client

    before = command_calls(client)
    assert reconcile_all(svc.store) == Report()  # every dispatch younger than the grace
    idle_cost = command_calls(client) - before
    assert len(swept) < 40
    # Each lane judged costs about ten commands (scripts' own included): this
    # pass judged the sweep's lanes only, not the 300 busy ones.
    assert idle_cost <= 12 * len(swept) + 20, (idle_cost, len(swept))

    due = lanes[100:105]
    client.zadd(keys.CHECKS, dict.fromkeys(due, 0))
    before = command_calls(client)
    assert reconcile_all(svc.store) == Report()
    cost = command_calls(client) - before
    assert cost <= 12 * (len(swept) + len(due)) + 20, (cost, len(swept))
    now_us = svc.store.redis_now_us()
    assert all(check_time(svc, lane) > now_us for lane in due)  # looked at, then put off


def test_deleted_rq_job_is_republished_once_the_grace_is_over(svc, make_worker):
    t = svc.submit("prod-eu", "noop")
    submitted = time.monotonic()
    assert check_time(svc, "prod-eu") == int(dispatched(svc, t.id)) + ORPHAN_GRACE_S * US
    svc.store.client.delete(job_key(t.id))  # gone; its id stays in the queue list
    assert reconcile_all(svc.store).republished == []  # within the grace: not yet due
    wait_until(
        lambda: reconcile_all(svc.store).republished == [t.id],
        timeout=ORPHAN_GRACE_S + 10,
        what="the orphan to be republished",
        interval=0.5,
    )
    assert time.monotonic() - submitted >= ORPHAN_GRACE_S - 1
    make_worker()
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed"
    assert [h["status"] for h in done["history"]] == ["queued", "running", "completed"]


def test_job_popped_by_a_dead_worker_is_republished(svc, make_worker):
    t = svc.submit("prod-eu", "noop")
    pop_as_a_dead_worker(svc, t.id, mark=True)
    wait_until(
        lambda: reconcile_all(svc.store, orphan_grace_s=0.5).republished == [t.id],
        what="the popped dispatch to be republished",
        interval=0.1,
    )
    # Republished over the old job: the new one carries no popped mark.
    assert svc.store.client.hget(job_key(t.id), POPPED_FIELD) is None
    assert reconcile_all(svc.store, orphan_grace_s=0.5).republished == []
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "completed"


def test_freshly_popped_job_is_left_to_its_worker(svc):
    t = svc.submit("prod-eu", "noop")
    dispatched_at = int(dispatched(svc, t.id))
    wait_until(lambda: svc.store.redis_now_us() > dispatched_at + US, what="a second to pass")
    pop_as_a_dead_worker(svc, t.id, mark=True)
    assert reconcile_all(svc.store, orphan_grace_s=1).republished == []
    popped_at = int(svc.store.client.hget(job_key(t.id), POPPED_FIELD).split()[0])
    assert check_time(svc, "prod-eu") == popped_at + ORPHAN_GRACE_S * US  # its claim's deadline


def test_a_pop_puts_its_lane_due_when_its_claim_is_overdue(svc):
    """A dispatch found waiting is looked at again much later; its pop, marked,
    brings the lane's check back to the claim's deadline."""
    t = svc.submit("prod-eu", "noop")
    svc.store.client.zadd(keys.CHECKS, {"prod-eu": svc.store.redis_now_us() + 3600 * US})
    pop_as_a_dead_worker(svc, t.id, mark=True)
    popped_at = int(svc.store.client.hget(job_key(t.id), POPPED_FIELD).split()[0])
    assert check_time(svc, "prod-eu") == popped_at + ORPHAN_GRACE_S * US


def test_worker_killed_after_its_pop_leaves_a_mark_and_the_task_runs(svc, make_worker):
    t = svc.submit("prod-eu", "noop")
    doomed = make_worker(JOBSVC_FAULT="after_pop")
    wait_until(lambda: doomed.poll() is not None, what="the worker to die at its fault point")
    assert svc.store.client.lpos(QUEUE, t.id) is None
    at, worker = svc.store.client.hget(job_key(t.id), POPPED_FIELD).split(" ", 1)
    assert int(at) <= svc.store.redis_now_us() and worker
    assert svc.get(t.id).status == "queued"
    wait_until(
        lambda: reconcile_all(svc.store, orphan_grace_s=0.5).republished == [t.id],
        what="the popped dispatch to be republished",
        interval=0.1,
    )
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "completed"


def test_popped_job_without_a_mark_is_found_by_the_sweep_only(svc, make_worker):
    t = svc.submit("prod-eu", "noop")
    pop_as_a_dead_worker(svc, t.id, mark=False)  # died between the pop and the mark
    dispatched_at = int(dispatched(svc, t.id))
    wait_until(lambda: svc.store.redis_now_us() > dispatched_at + US // 2, what="the grace")
    report = Report()
    now_us = svc.store.redis_now_us()
    reconcile_lane(svc.store, "prod-eu", report, now_us, orphan_grace_s=0.5, full=False)
    assert report.republished == []  # the index's O(1) check cannot see it
    assert reconcile_all(svc.store, orphan_grace_s=0.5).republished == [t.id]
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "completed"


def test_expired_lease_is_reaped_by_an_indexed_pass(svc):
    t = svc.submit("prod-eu", "noop", retries=0)
    claim = svc.store.claim(t.id, "gone-worker")  # its process then dies: no heartbeat
    assert claim.code == "ok"
    lease_ends = svc.store.redis_now_us() + int(svc.settings.lease_s * US)
    assert abs(check_time(svc, "prod-eu") - lease_ends) < US
    svc.store.client.srem(keys.BUSY, "prod-eu")  # out of the sweep's reach: the index alone
    assert reconcile_all(svc.store).reaped == []
    wait_until(
        lambda: reconcile_all(svc.store).reaped == [t.id],
        timeout=svc.settings.lease_s + 5,
        what="the lease to expire and the attempt to be reaped",
        interval=0.2,
    )
    assert svc.store.get(t.id)["error"]["reason"] == "worker_lost"


def test_lane_never_indexed_is_found_by_the_sweep(svc, monkeypatch):
    with monkeypatch.context() as crash:  # promoted, the RQ enqueue never happened
        crash.setattr(svc.store.dispatcher, "publish", lambda dispatch: None)
        t = svc.submit("prod-eu", "noop")
    svc.store.client.delete(keys.CHECKS)  # data written before the index existed
    assert reconcile_all(svc.store, orphan_grace_s=0).republished == [t.id]
    assert check_time(svc, "prod-eu") is not None


def test_sweep_goes_round_every_busy_lane(svc):
    lanes = {f"lane-{i:03}" for i in range(60)}
    for lane in lanes:
        svc.submit(lane, "noop")
    svc.store.client.delete(keys.CHECKS)
    passes = 0
    while svc.store.checks_size() < len(lanes):
        reconcile_all(svc.store)
        passes += 1
        assert passes <= 3 * len(lanes) // reconcile.SWEEP_LANES, "the sweep does not go round"
    assert set(svc.store.client.zrange(keys.CHECKS, 0, -1)) == lanes


def test_republished_while_alive_runs_once(svc, make_worker):
    t = svc.submit("prod-eu", "noop")
    assert svc.store.republish(
        t.id, "prod-eu", dispatched(svc, t.id)
    )  # a reconciler judged it lost
    assert svc.store.client.lrange(QUEUE, 0, -1) == [t.id, t.id]
    make_worker()
    done = wait_ended(svc, t.id)
    assert [h["status"] for h in done["history"]] == ["queued", "running", "completed"]
    wait_until(lambda: svc.store.client.llen(QUEUE) == 0, what="the second entry to be popped")
    assert svc.store.client.exists(job_key(t.id)) == 0


def test_drain_holds_lanes_in_the_index_and_resume_starts_them(svc):
    first = svc.submit("prod-eu", "noop")
    svc.store.set_draining(True)
    behind = svc.submit("prod-eu", "noop")
    svc.store.cancel(first.id)  # the lane's next task is held back by the drain
    assert svc.get(behind.id).status == "queued"
    assert check_time(svc, "prod-eu") <= svc.store.redis_now_us()  # due at once
    assert reconcile_all(svc.store).promoted == []  # still draining: put off
    assert check_time(svc, "prod-eu") > svc.store.redis_now_us() + (RECHECK_MAX_S - 5) * US
    svc.end_drain()
    assert svc.store.lane_task_ids("prod-eu", 5) == [behind.id]
    assert svc.store.client.exists(job_key(behind.id)) == 1


def test_idle_lane_leaves_the_index(svc, make_worker):
    t = svc.submit("prod-eu", "noop")
    assert check_time(svc, "prod-eu") is not None
    make_worker()
    wait_ended(svc, t.id)
    wait_until(lambda: check_time(svc, "prod-eu") is None, what="the lane to leave the index")
    assert not svc.store.client.sismember(keys.BUSY, "prod-eu")


def test_paused_lane_with_waiting_tasks_is_not_checked(svc):
    svc.pause("prod-eu")
    t = svc.submit("prod-eu", "noop")
    assert check_time(svc, "prod-eu") is None
    svc.resume("prod-eu")
    assert check_time(svc, "prod-eu") == int(dispatched(svc, t.id)) + ORPHAN_GRACE_S * US


# -- the next check time: pure rules of policy.py ------------------------------------------

NOW = 1_000_000 * US


@pytest.mark.parametrize(
    ("waited_s", "next_in_s"),
    [(0, ORPHAN_GRACE_S), (15, 15), (100, 100), (5000, RECHECK_MAX_S)],
)
def test_waiting_dispatch_is_looked_at_again_after_as_long_again(waited_s, next_in_s):
    state = {"dispatchedAt": str(NOW - int(waited_s * US))}
    assert waiting_check_at(state, NOW, None) == NOW + int(next_in_s * US)


def test_popped_dispatch_is_looked_at_when_its_claim_is_overdue():
    state = {"dispatchedAt": str(NOW - 3600 * US)}
    assert waiting_check_at(state, NOW, NOW - US) == NOW - US + int(ORPHAN_GRACE_S * US)


def test_running_attempt_is_looked_at_when_it_first_could_be_late():
    state = {"startedAt": str(NOW - 10 * US), "timeoutS": "3600", "leaseMs": 4000}
    assert running_check_at(state, NOW, stall_s=600) == NOW + 4 * US + 1  # the lease
    state["leaseMs"] = 10**9
    assert running_check_at(state, NOW, stall_s=600) == NOW - 10 * US + 600 * US + 1  # the stall
    state["lastOutputAt"] = str(NOW)
    state["timeoutS"] = "1"
    assert running_check_at(state, NOW, stall_s=600) == NOW - 10 * US + 61 * US + 1  # timeout
