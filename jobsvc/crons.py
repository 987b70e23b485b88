"""The scheduler process: rq-scheduler firing jobsvc's periodic reconcilers.

rq-scheduler's enqueue is three separate steps and its lock can expire or be
removed by another instance, so a periodic job may fire twice.  Each job
therefore takes its slot with ``SET NX`` on (name, fire slot) before doing
anything: a double fire runs once.  Registration uses fixed job ids, so
restarting the scheduler, or running two, never doubles the jobs.  Jobs are
JSON-serialized (``JSONJob``) like every other RQ job of jobsvc.
"""

from __future__ import annotations

import logging
import time

from rq.job import Job
from rq.serializers import JSONSerializer
from rq_scheduler import Scheduler

from . import keys
from .connection import client, resolve_url
from .dispatch import MAINTENANCE_QUEUE
from .reconcile import cleanup_ended, reconcile_all
from .runner import process_store
from .settings import Settings

log = logging.getLogger("jobsvc.scheduler")

# How often rq-scheduler looks for due jobs, in seconds.
POLL_S = 5
# Period of the reconcile pass, in seconds.
RECONCILE_EVERY_S = 30
# Period of the retention cleanup, in seconds, and the age of tasks it deletes.
CLEANUP_EVERY_S = 24 * 3600
CLEANUP_DAYS = 30


class JSONJob(Job):
    """An RQ job that is JSON-serialized even when its creator names no serializer."""

    def __init__(self, id=None, connection=None, serializer=None):  # noqa: A002
        super().__init__(id, connection=connection, serializer=serializer or JSONSerializer)


def take_slot(name: str, every_s: int) -> bool:
    """True for the first run of ``name`` in its current period, False for a double fire."""
    store = process_store()
    slot = int(time.time()) // every_s
    return bool(store.client.set(keys.fire(name, slot), "1", nx=True, ex=every_s * 2))


def reconcile_job(every_s: int = RECONCILE_EVERY_S) -> dict:
    if not take_slot("reconcile", every_s):
        return {"skipped": "already ran in this period"}
    report = reconcile_all(process_store())
    return {"republished": len(report.republished), "reaped": len(report.reaped),
            "promoted": len(report.promoted)}


def cleanup_job(days: int = CLEANUP_DAYS, every_s: int = CLEANUP_EVERY_S) -> dict:
    if not take_slot("cleanup", every_s):
        return {"skipped": "already ran in this period"}
    return {"deleted": cleanup_ended(process_store(), days)}


PERIODIC = (
    ("jobsvc-reconcile", "jobsvc.crons.reconcile_job", RECONCILE_EVERY_S),
    ("jobsvc-cleanup", "jobsvc.crons.cleanup_job", CLEANUP_EVERY_S),
)


def register(scheduler: Scheduler) -> None:
    """Fixed ids: scheduling again replaces the job instead of adding one."""
    from datetime import datetime, timezone

    for job_id, func, every_s in PERIODIC:
        scheduler.schedule(
            scheduled_time=datetime.now(timezone.utc).replace(tzinfo=None), func=func,
            interval=every_s, repeat=None, id=job_id, queue_name=MAINTENANCE_QUEUE,
            result_ttl=every_s * 2, description=job_id,
        )


def run_scheduler(burst: bool = False, settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    scheduler = Scheduler(queue_name=MAINTENANCE_QUEUE,
                          connection=client(resolve_url(settings), decode=False),
                          interval=POLL_S, job_class=JSONJob)
    register(scheduler)
    log.info("scheduler: %d periodic jobs registered", len(PERIODIC))
    scheduler.run(burst=burst)
