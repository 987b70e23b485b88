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
from dataclasses import dataclass, field
from typing import Any

import redis

from ..policy import ORPHAN_GRACE_S, backoff_ms, dispatch_settled, overdue
from ..store import TaskStore

log = logging.getLogger("jobsvc.reconcile")


@dataclass
class Report:
    republished: list[str] = field(default_factory=list)
    reaped: list[str] = field(default_factory=list)
    stalled: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    # Lanes that could not be checked (their data in Redis is damaged); logged.
    failed: list[str] = field(default_factory=list)


def _orphaned(store: TaskStore, state: dict[str, Any], now_us: int, grace_s: float) -> bool:
    if state.get("status") != "queued" or not dispatch_settled(state, now_us, grace_s):
        return False
    return not store.dispatcher.job_alive(state["active"], state["pool"], state["priority"])


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


def reconcile_lane(
    store: TaskStore,
    deployment: str,
    report: Report,
    now_us: int,
    orphan_grace_s: float = ORPHAN_GRACE_S,
) -> None:
    state = store.lane_state(deployment)
    if state["active"] is None:
        if store.promote(deployment):
            report.promoted.append(deployment)
    elif state.get("status") == "running" and not state["leased"]:
        if _reap(
            store,
            state,
            "worker_lost",
            "the process running this attempt stopped renewing its lease",
            force=False,
        ):
            report.reaped.append(state["active"])
    elif state.get("status") == "running":
        late = overdue(state, now_us, store.settings.stall_s)
        if late and _reap(store, state, *late, force=True):
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
            log.warning("reconcile: lane %s skipped: %s: %s", deployment, type(exc).__name__, exc)
            report.failed.append(deployment)
    store.take_due()
    return report
