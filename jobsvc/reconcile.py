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
* the attempt lives but is stuck (no output nor heartbeat for its stall
  timeout) or overran its hard timeout -> ``reap.lua``, forced, and RQ's
  stop command for its work-horse;
* a lane whose promotion never happened -> ``promote.lua``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis
from rq.command import send_command
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from . import keys
from .dispatch import RQ_TIMEOUT_GRACE_S, queue_name
from .runner import backoff_ms
from .states import Status
from .store import TaskStore

log = logging.getLogger("jobsvc.reconcile")

# A dispatch younger than this is left alone: its RQ enqueue may be under way.
ORPHAN_GRACE_S = 10.0
# Ended tasks deleted per cleanup batch.
CLEANUP_BATCH = 500
# `jobsvc check` looks for keys of the old layout with SCAN: keys asked per
# call, and the most calls it makes (an admin command; never a request path).
LAYOUT_SCAN_COUNT = 1000
LAYOUT_SCAN_CALLS = 1000
ENDED = ("completed", "failed", "canceled", "skipped")


@dataclass
class Report:
    republished: list[str] = field(default_factory=list)
    reaped: list[str] = field(default_factory=list)
    stalled: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    # Lanes that could not be checked (their data in Redis is damaged); logged.
    failed: list[str] = field(default_factory=list)


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


def _orphaned(store: TaskStore, state: dict, now_us: int, grace_s: float) -> bool:
    if state.get("status") != "queued":
        return False
    if state.get("dueAt") and int(state["dueAt"]) > now_us:
        return False
    if now_us - int(state.get("dispatchedAt") or 0) < grace_s * 1_000_000:
        return False
    return not rq_job_alive(store, state["active"], state["pool"], state["priority"])


def _error(reason: str, message: str) -> dict:
    return {"reason": reason, "type": reason, "message": message, "traceback": None}


def _overdue(store: TaskStore, state: dict, now_us: int) -> tuple[str, str] | None:
    """(reason, message) if a live attempt is stalled or past its hard timeout."""
    started = int(state.get("startedAt") or now_us)
    if now_us - started > (int(state["timeoutS"]) + RQ_TIMEOUT_GRACE_S) * 1_000_000:
        limit = state["timeoutS"]
        return "timeout", f"still running {RQ_TIMEOUT_GRACE_S}s past its {limit}s timeout"
    stall_s = int(state.get("stallS") or 0) or store.settings.stall_s
    active = max(started, int(state.get("lastOutputAt") or 0), int(state.get("lastBeatAt") or 0))
    if now_us - active > stall_s * 1_000_000:
        return "stalled", f"no output nor heartbeat for {stall_s:.0f}s"
    return None


def _reap(store: TaskStore, state: dict, reason: str, message: str, force: bool) -> bool:
    code = store.reap(state["active"], state["deployment"], state["token"], reason=reason,
                      error=_error(reason, message), force=force,
                      backoff_ms=backoff_ms(store.settings.backoff_s, 0))
    if force and code in ("retry", "ended"):
        stop_rq_job(store, state["active"], state.get("worker"))
    return code in ("retry", "ended")


def stop_rq_job(store: TaskStore, task_id: str, worker: str | None) -> None:
    """Asks the RQ worker that claimed the attempt to kill its work-horse
    (RQ's stop-job command, which the worker obeys only while it runs that task).

    A forking worker kills the horse; a simple worker cannot, but its runner
    finds its token fenced off at the next heartbeat and stops the handler.
    """
    if worker:
        send_command(store.dispatcher.connection, worker, "stop-job", job_id=task_id)


def reconcile_lane(store: TaskStore, deployment: str, report: Report, now_us: int,
                   orphan_grace_s: float = ORPHAN_GRACE_S) -> None:
    state = store.lane_state(deployment)
    if state["active"] is None:
        if store.promote(deployment):
            report.promoted.append(deployment)
    elif state.get("status") == "running" and not state["leased"]:
        if _reap(store, state, "worker_lost",
                 "the process running this attempt stopped renewing its lease", force=False):
            report.reaped.append(state["active"])
    elif state.get("status") == "running":
        overdue = _overdue(store, state, now_us)
        if overdue and _reap(store, state, *overdue, force=True):
            report.stalled.append(state["active"])
    elif _orphaned(store, state, now_us, orphan_grace_s):
        if store.republish(state["active"], deployment, state.get("dispatchedAt")):
            report.republished.append(state["active"])


def reconcile_all(store: TaskStore, orphan_grace_s: float = ORPHAN_GRACE_S) -> Report:
    """One pass over every busy lane.

    A lane that fails (its data in Redis is damaged, say) is logged and
    listed in ``report.failed``, and the pass goes on with the others; only
    losing Redis itself ends the pass.
    """
    report = Report()
    now_us = store.redis_now_us()
    for deployment in store.busy_deployments():
        try:
            reconcile_lane(store, deployment, report, now_us, orphan_grace_s)
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception as exc:  # noqa: BLE001  (one bad lane must not stop the pass)
            log.warning("reconcile: lane %s skipped: %s: %s", deployment,
                        type(exc).__name__, exc)
            report.failed.append(deployment)
    store.take_due()
    return report


def _ended_before(store: TaskStore, status: str, cutoff: int) -> Iterator[list[tuple]]:
    """Batches of (id, completedAt, cooldownUntil, staleAt) of ended tasks, oldest first."""
    index, low = keys.by_status(status), "-inf"
    while batch := store.client.zrangebyscore(index, low, "+inf", start=0, num=CLEANUP_BATCH,
                                              withscores=True):
        with store.client.pipeline(transaction=False) as pipe:
            for task_id, _ in batch:
                pipe.hmget(keys.task(task_id), "completedAt", "cooldownUntil", "staleAt")
            rows = pipe.execute()
        yield [(tid, *row) for (tid, _), row in zip(batch, rows)
               if row[0] is not None and int(row[0]) < cutoff]
        low = f"({int(batch[-1][1])}"


def cleanup_ended(store: TaskStore, days: float, grace_s: float = 0.0) -> tuple[int, int]:
    """Retention: returns (flagged, deleted).

    A task that ended more than ``days`` ago (and is past any cooldown) is
    first flagged ``staleAt``; one flagged at least ``grace_s`` ago is
    deleted with its history, streams, log and index entries.  The daily
    job (``crons.cleanup_job``) passes a grace of half its period, so a task
    is flagged by one run and deleted by the next, a day later; ``jobsvc
    cleanup`` deletes at once (grace 0).
    Queued and running tasks are never touched (delete_task.lua refuses).
    """
    now = store.redis_now_us()
    cutoff = now - int(days * 86_400 * 1_000_000)
    flagged = deleted = 0
    for status in ENDED:
        for batch in _ended_before(store, status, cutoff):
            stale_at: dict[str, int] = {}
            for task_id, _, cooldown_until, stale in batch:
                if stale is not None:
                    stale_at[task_id] = int(stale)
                elif int(cooldown_until or 0) <= now:
                    store.client.hset(keys.task(task_id), "staleAt", now)
                    stale_at[task_id] = now
                    flagged += 1
            limit = now - grace_s * 1_000_000
            deleted += sum(store.delete(tid) for tid, at in stale_at.items() if at <= limit)
    return flagged, deleted


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


def layout_warnings(client) -> list[str]:
    """One line if this Redis holds data written by jobsvc's old key layout,
    whose lane keys another lane's name could spell (see keys.py)."""
    buckets = {s.value for s in Status if s.ended} | {keys.ACTIVE_BUCKET}
    found = keys.ALL_TASKS if client.exists(keys.ALL_TASKS) else _old_layout_key(client)
    if found is None and any(keys.parse_count(name)[1] not in buckets
                             for name in client.hkeys(keys.COUNTS)):
        found = f"{keys.COUNTS} fields type:<type>:<status> or counters of queued/running"
    if found is None:
        return []
    return [f"this Redis holds data of jobsvc's old key layout ({found}): let running tasks "
            "end (`jobsvc drain`), then delete the keys matching jobsvc:* and rq:* (or flush "
            "a database of jobsvc's own) and submit again"]


def _old_layout_key(client) -> str | None:
    """The first key of an old layout a bounded SCAN finds, else None."""
    lane, task = keys.lane(""), keys.task("")
    cursor = 0
    for _ in range(LAYOUT_SCAN_CALLS):
        cursor, names = client.scan(cursor, match=keys.PREFIX + "*", count=LAYOUT_SCAN_COUNT)
        for name in names:
            old = keys.OLD_LANE_KEYS if name.startswith(lane) else \
                keys.OLD_TASK_KEYS if name.startswith(task) else ()
            if any(name.endswith(suffix) and client.type(name) == kind for suffix, kind in old):
                return name
        if cursor == 0:
            return None
    return None
