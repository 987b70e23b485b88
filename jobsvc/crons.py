"""The periodic jobs: what the scheduler's RQ jobs run (reconcile, retention,
recurring tasks).

RQ stores a job's function as a dotted path (``jobsvc.crons.reconcile_job``),
so these names stay where they are: a job queued by one version must import
in the next.  The scheduler process that registers them is
``processes.scheduler``.

rq-scheduler's enqueue is three separate steps and its lock can expire or be
removed by another instance, so a periodic job may fire twice.  Each job
therefore takes its slot with ``SET NX`` on (name, fire slot) before doing
anything: a double fire runs once.
"""

from __future__ import annotations

import time
from typing import Any

from .processes.reconcile import reconcile_all
from .processes.retention import DEFAULT_DAYS, cleanup_deliveries, cleanup_ended
from .runner import process_store
from .service import Service
from .validation import parse_submission

# Period of the retention pass, in seconds, and the age (days) of ended tasks it flags.
CLEANUP_EVERY_S = 24 * 3600
CLEANUP_DAYS = DEFAULT_DAYS
# How old, in periods, a flag must be before a run deletes its task: the next run
# comes a period later, and half a period absorbs the scheduler's jitter.
CLEANUP_GRACE_PERIODS = 0.5


def take_slot(name: str, every_s: float) -> bool:
    """True for the first run of ``name`` in its current period, False for a double fire."""
    slot = int(time.time() // every_s)
    return process_store().take_slot(name, slot, ttl_s=int(every_s * 2) + 1)


def reconcile_job(every_s: float) -> dict[str, Any]:
    if not take_slot("reconcile", every_s):
        return {"skipped": "already ran in this period"}
    report = reconcile_all(process_store())
    return {
        "republished": len(report.republished),
        "reaped": len(report.reaped),
        "stalled": len(report.stalled),
        "promoted": len(report.promoted),
    }


def cleanup_job(days: float = CLEANUP_DAYS, every_s: float = CLEANUP_EVERY_S) -> dict[str, Any]:
    """The retention pass, in two phases: a run flags the tasks that ended ``days``
    ago, and only a later run deletes them, a period on (`jobsvc cleanup` is at once)."""
    if not take_slot("cleanup", every_s):
        return {"skipped": "already ran in this period"}
    store = process_store()
    flagged, deleted = cleanup_ended(store, days, grace_s=every_s * CLEANUP_GRACE_PERIODS)
    dropped = cleanup_deliveries(store, store.settings.webhook_retention_s)
    return {"flagged": flagged, "deleted": deleted, "deliveriesDeleted": dropped}


def submit_recurring(definition: dict[str, Any]) -> dict[str, Any]:
    """Fires one recurring task through the normal submit path.

    Its dedupe key is the definition's name: a double fire of rq-scheduler,
    or a fire while the previous run is still queued or running, returns the
    task already there instead of queueing a second one.
    """
    store = process_store()
    body = recurring_body(definition)
    sub = parse_submission(definition["deployment"], body)
    Service.preflight(sub)
    task, deduplicated = store.submit(sub)
    return {"task": task["id"], "deduplicated": deduplicated}


def recurring_body(definition: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in definition.items() if k not in ("name", "cron", "deployment")}
    body.setdefault("dedupeKey", f"recurring:{definition['name']}")
    return body
