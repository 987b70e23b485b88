"""Repairs that keep every lane moving whatever crashed: run by `jobsvc
reconcile` and by the scheduler's periodic jobs.

Each repair is decided in Python from what it reads, then carried out by a
Lua script that first checks nothing moved since (same active task, same
token or dispatch stamp), so two reconcilers running at once change
nothing twice.  Where a task can be lost between two steps:

* promoted by a Lua script, then the process dies before the RQ enqueue:
  the task is active and queued with no RQ job -> ``_orphaned`` then ``republish.lua``;
* popped by a worker that dies before claiming it: same, the RQ job is
  ``started`` but nobody runs it -> the same, after a grace;
* the attempt's process dies or freezes: its lease expires -> ``reap.lua``;
* a lane whose promotion never happened -> ``promote.lua``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from . import keys
from .dispatch import queue_name
from .runner import backoff_ms
from .store import TaskStore

# A dispatch younger than this is left alone: its RQ enqueue may be under way.
ORPHAN_GRACE_S = 10.0
# Ended tasks deleted per cleanup batch.
CLEANUP_BATCH = 500
ENDED = ("completed", "failed", "canceled", "skipped")


@dataclass
class Report:
    republished: list[str] = field(default_factory=list)
    reaped: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)


def rq_job_alive(store: TaskStore, task_id: str, pool: str, priority: str) -> bool:
    """True if RQ still holds a job that will run this task."""
    rq = store.dispatcher.connection
    try:
        job = Job.fetch(task_id, connection=rq, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == "queued":
        return rq.lpos(store.dispatcher.queue(queue_name(pool, priority)).key, task_id) is not None
    return status in ("scheduled", "deferred")


def _orphaned(store: TaskStore, state: dict, now_us: int) -> bool:
    if state.get("status") != "queued":
        return False
    if state.get("dueAt") and int(state["dueAt"]) > now_us:
        return False
    if now_us - int(state.get("dispatchedAt") or 0) < ORPHAN_GRACE_S * 1_000_000:
        return False
    pool, priority = store.client.hmget(keys.task(state["active"]), "pool", "priority")
    return not rq_job_alive(store, state["active"], pool, priority)


def reconcile_lane(store: TaskStore, deployment: str, report: Report, now_us: int) -> None:
    state = store.lane_state(deployment)
    task_id = state["active"]
    if task_id is None:
        if store.promote(deployment):
            report.promoted.append(deployment)
    elif state.get("status") == "running" and not state["leased"]:
        error = {"reason": "worker_lost", "type": "WorkerLost",
                 "message": "the process running this attempt stopped renewing its lease",
                 "traceback": None}
        code = store.reap(task_id, deployment, state["token"], reason="worker_lost",
                          error=error, backoff_ms=backoff_ms(store.settings.backoff_s, 0))
        if code in ("retry", "ended"):
            report.reaped.append(task_id)
    elif _orphaned(store, state, now_us):
        if store.republish(task_id, deployment, state.get("dispatchedAt")):
            report.republished.append(task_id)


def reconcile_all(store: TaskStore) -> Report:
    """One pass over every busy lane."""
    report = Report()
    now_us = store.redis_now_us()
    for deployment in store.busy_deployments():
        reconcile_lane(store, deployment, report, now_us)
    store.take_due()
    return report


def cleanup_ended(store: TaskStore, days: int) -> int:
    """Deletes tasks that ended more than ``days`` ago; queued and running ones stay."""
    cutoff = store.redis_now_us() - days * 86_400 * 1_000_000
    deleted = 0
    for status in ENDED:
        index, low = keys.by_status(status), "-inf"
        while batch := store.client.zrangebyscore(index, low, "+inf", start=0,
                                                  num=CLEANUP_BATCH, withscores=True):
            with store.client.pipeline(transaction=False) as pipe:
                for task_id, _ in batch:
                    pipe.hget(keys.task(task_id), "completedAt")
                ended_at = pipe.execute()
            old = [tid for (tid, _), at in zip(batch, ended_at) if int(at or 0) < cutoff]
            deleted += sum(store.delete(tid) for tid in old)
            low = f"({int(batch[-1][1])}"
    return deleted


def redis_warnings(client) -> list[str]:
    """What in the Redis configuration could lose accepted tasks."""
    try:
        config = {**client.config_get("appendonly"), **client.config_get("maxmemory-policy"),
                  **client.config_get("save")}
    except Exception as exc:  # noqa: BLE001  (managed Redis often forbids CONFIG)
        return [f"cannot read the Redis configuration ({exc}); check persistence yourself"]
    warnings = []
    if config.get("appendonly") != "yes" and not config.get("save"):
        warnings.append("persistence is off (appendonly no, no save points): "
                        "a Redis restart loses every task")
    elif config.get("appendonly") != "yes":
        warnings.append("appendonly is off: a crash loses tasks since the last snapshot")
    if config.get("maxmemory-policy") != "noeviction":
        warnings.append(f"maxmemory-policy is {config.get('maxmemory-policy')}, "
                        "not noeviction: Redis may evict task data under memory pressure")
    return warnings
