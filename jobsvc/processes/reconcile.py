"""Repairs that keep every lane moving whatever crashed: run by `jobsvc
reconcile` and by the scheduler's periodic jobs.

Each repair is decided in Python from what it reads, then carried out by a
Lua script that first checks nothing moved since (same active task, same
token or dispatch stamp), so two reconcilers running at once change
nothing twice.  Where a task can be lost between two steps:

* promoted by a Lua script, then the process dies before the RQ enqueue:
  the task is active and queued with no RQ job -> ``republish.lua``;
* popped by a worker that dies before claiming it: the RQ job hash is left,
  out of its queue, marked popped (``scripts/popped.lua``) -> the same, once
  the mark is older than the grace;
* the attempt's process dies or freezes: its lease expires -> ``reap.lua``;
* the attempt lives but is stuck (no output nor heartbeat for its stall
  timeout) or overran its hard timeout -> ``reap.lua``, forced, and RQ's
  stop command for its work-horse;
* a lane whose promotion never happened -> ``promote.lua``.

A pass costs what is due, not what is busy: it looks only at the lanes of
the index ``jobsvc:checks`` whose time has come (each transition's script
sets a lane's time to the earliest it could need a repair; a lane found
well gets its next time from ``policy``), plus ``SWEEP_LANES`` busy lanes
checked fully, round-robin, for what the index cannot see (a worker that
died between its pop and its mark; data written before the index).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis

from ..dispatch import WAITING_ELSEWHERE, RqJob
from ..policy import (
    ORPHAN_GRACE_S,
    RECHECK_MAX_S,
    US,
    backoff_ms,
    dispatch_check_at,
    dispatch_settled,
    overdue,
    popped_lost,
    running_check_at,
    waiting_check_at,
)
from ..store import TaskStore

log = logging.getLogger("jobsvc.reconcile")

# Lanes read from the index, or from the busy set in a full pass, per round trip.
LANE_BATCH = 200
# Busy lanes the safety sweep checks fully per pass: each may cost an LPOS of
# its RQ queue (O(queue length)), so few; the sweep goes round every busy lane
# in (busy lanes / SWEEP_LANES) passes.
SWEEP_LANES = 10


@dataclass
class Report:
    republished: list[str] = field(default_factory=list)
    reaped: list[str] = field(default_factory=list)
    stalled: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    # Lanes that could not be checked (their data in Redis is damaged); logged.
    failed: list[str] = field(default_factory=list)


def _error(reason: str, message: str) -> dict[str, Any]:
    return {"reason": reason, "type": reason, "message": message, "traceback": None}


def _reap(store: TaskStore, state: dict[str, Any], reason: str, message: str, force: bool) -> bool:
    code = store.reap(
        state["active"],
        state["deployment"],
        state["token"],
        reason=reason,
        error=_error(reason, message),
        force=force,
        backoff_ms=backoff_ms(store.settings.backoff_s, 0),
    )
    if force and code in ("retry", "ended"):
        store.dispatcher.stop_job(state["active"], state.get("worker"))
    return code in ("retry", "ended")


def _lost(
    store: TaskStore, state: dict[str, Any], job: RqJob, now_us: int, grace_s: float, full: bool
) -> bool:
    """Whether a settled dispatch will never run: its RQ job is gone or done, or
    was popped longer than the grace ago and not claimed.  Only a ``full``
    check looks for an unmarked job in its queue list (LPOS, O(queue length))."""
    if not job.exists or job.status in WAITING_ELSEWHERE:
        return not job.exists
    if job.status != "queued":
        return True
    if job.popped_at is not None:
        return popped_lost(job.popped_at, now_us, grace_s)
    return full and not store.dispatcher.in_queue(state["active"], state["pool"], state["priority"])


def _judge_queued(
    store: TaskStore,
    state: dict[str, Any],
    report: Report,
    now_us: int,
    grace_s: float,
    full: bool,
) -> int | None:
    if not dispatch_settled(state, now_us, grace_s):
        return dispatch_check_at(state)
    job = store.dispatcher.rq_job(state["active"])
    if not _lost(store, state, job, now_us, grace_s, full):
        return waiting_check_at(state, now_us, job.popped_at)
    if store.republish(state["active"], state["deployment"], state.get("dispatchedAt")):
        report.republished.append(state["active"])
    return None


def _judge_running(
    store: TaskStore, state: dict[str, Any], report: Report, now_us: int
) -> int | None:
    if not state["leased"]:
        message = "the process running this attempt stopped renewing its lease"
        if _reap(store, state, "worker_lost", message, force=False):
            report.reaped.append(state["active"])
        return None
    late = overdue(state, now_us, store.settings.stall_s)
    if not late:
        return running_check_at(state, now_us, store.settings.stall_s)
    if _reap(store, state, *late, force=True):
        report.stalled.append(state["active"])
    return None


def reconcile_lane(
    store: TaskStore,
    deployment: str,
    report: Report,
    now_us: int,
    orphan_grace_s: float = ORPHAN_GRACE_S,
    full: bool = True,
) -> tuple[dict[str, Any], int] | None:
    """Judges one lane and repairs it if it needs it.  Returns the lane's state
    and its next check time if it was found well, for the caller to write
    (``TaskStore.reschedule``, a batch at a time); None if a repair was tried
    (the repair's own script sets the time; one that found the lane moved
    leaves it due, and the next pass looks again)."""
    state = store.lane_state(deployment)
    at: int | None = now_us + int(RECHECK_MAX_S * US)  # idle and held back, or not a task's
    if state["active"] is None:
        if store.promote(deployment):
            report.promoted.append(deployment)
            at = None
    elif state.get("status") == "running":
        at = _judge_running(store, state, report, now_us)
    elif state.get("status") == "queued":
        at = _judge_queued(store, state, report, now_us, orphan_grace_s, full)
    return None if at is None else (state, at)


@dataclass
class Pass:
    """One reconcile pass: each lane judged at most once, failures kept apart,
    the next check times of a batch's lanes written in one script call."""

    store: TaskStore
    grace_s: float
    report: Report = field(default_factory=Report)
    seen: set[str] = field(default_factory=set)
    now_us: int = 0

    def visit(self, lanes: list[str], full: bool) -> None:
        found: list[tuple[dict[str, Any], int]] = []
        for deployment in lanes:
            if deployment in self.seen:
                continue
            self.seen.add(deployment)
            try:
                if judged := reconcile_lane(
                    self.store, deployment, self.report, self.now_us, self.grace_s, full
                ):
                    found.append(judged)
            except (redis.ConnectionError, redis.TimeoutError):
                raise
            except Exception as exc:  # noqa: BLE001  (one bad lane must not stop the pass)
                self.failed(deployment, exc)
        self.store.reschedule(found)

    def failed(self, deployment: str, exc: Exception) -> None:
        log.warning("reconcile: lane %s skipped: %s: %s", deployment, type(exc).__name__, exc)
        self.report.failed.append(deployment)
        self.store.defer_check(deployment, self.now_us + int(RECHECK_MAX_S * US))


def reconcile_all(
    store: TaskStore, orphan_grace_s: float = ORPHAN_GRACE_S, *, every_lane: bool = False
) -> Report:
    """One pass: the safety sweep's few lanes, checked fully, then the lanes due
    in the index (a lane is judged once per pass: the sweep's full check first).

    Index times assume the default grace (``ORPHAN_GRACE_S``); a pass with a
    shorter one also takes the lanes due within the difference.
    ``every_lane`` walks the whole busy set instead of the index (with O(1)
    checks, no LPOS), as `jobsvc drain --resume` does.  A lane that fails
    (its data in Redis is damaged, say) is logged and listed in
    ``report.failed``, and the pass goes on; only losing Redis ends it.
    """
    run = Pass(store, orphan_grace_s, now_us=store.redis_now_us())
    run.visit(sorted(store.sweep_lanes(SWEEP_LANES)), full=True)
    ahead = int(max(0.0, ORPHAN_GRACE_S - orphan_grace_s) * US)
    if every_lane:
        batches = store.busy_batches(LANE_BATCH)
    else:
        batches = store.due_checks(run.now_us + ahead, LANE_BATCH)
    for lanes in batches:
        run.visit(lanes, full=False)
    store.take_due()
    return run.report
