"""The scheduler process: rq-scheduler firing jobsvc's periodic reconcilers.

rq-scheduler's enqueue is three separate steps and its lock can expire or be
removed by another instance, so a periodic job may fire twice.  Each job
therefore takes its slot with ``SET NX`` on (name, fire slot) before doing
anything: a double fire runs once.  Registration uses fixed job ids, so
restarting the scheduler, or running two, never doubles the jobs.  Jobs are
JSON-serialized (``dispatch.TaskJob``) like every other RQ job of jobsvc.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import redis
from rq_scheduler import Scheduler

from . import keys
from .connection import client, resolve_url
from .dispatch import MAINTENANCE_QUEUE, TaskJob
from .errors import ConfigError, JobsvcError
from .processes.reconcile import cleanup_ended, reconcile_all
from .runner import process_store
from .settings import Settings
from .types import registry

log = logging.getLogger("jobsvc.scheduler")

# How often rq-scheduler looks for due jobs, in seconds.
POLL_S = 1
# Seconds between attempts to start the scheduler while Redis does not answer.
RESTART_S = 1.0
# Period of the retention pass, in seconds, and the age (days) of ended tasks it flags.
CLEANUP_EVERY_S = 24 * 3600
CLEANUP_DAYS = 30
# How old, in periods, a flag must be before a run deletes its task: the next run
# comes a period later, and half a period absorbs the scheduler's jitter.
CLEANUP_GRACE_PERIODS = 0.5
# Job ids of recurring tasks start with this; others on the scheduler are left alone.
RECURRING_PREFIX = "jobsvc-recurring-"


def take_slot(name: str, every_s: float) -> bool:
    """True for the first run of ``name`` in its current period, False for a double fire."""
    store = process_store()
    slot = int(time.time() // every_s)
    return bool(store.client.set(keys.fire(name, slot), "1", nx=True, ex=int(every_s * 2) + 1))


def reconcile_job(every_s: float) -> dict:
    if not take_slot("reconcile", every_s):
        return {"skipped": "already ran in this period"}
    report = reconcile_all(process_store())
    return {"republished": len(report.republished), "reaped": len(report.reaped),
            "stalled": len(report.stalled), "promoted": len(report.promoted)}


def cleanup_job(days: float = CLEANUP_DAYS, every_s: float = CLEANUP_EVERY_S) -> dict:
    """The retention pass, in two phases: a run flags the tasks that ended ``days``
    ago, and only a later run deletes them, a period on (`jobsvc cleanup` is at once)."""
    if not take_slot("cleanup", every_s):
        return {"skipped": "already ran in this period"}
    flagged, deleted = cleanup_ended(process_store(), days,
                                     grace_s=every_s * CLEANUP_GRACE_PERIODS)
    return {"flagged": flagged, "deleted": deleted}


def submit_recurring(definition: dict) -> dict:
    """Fires one recurring task through the normal submit path.

    Its dedupe key is the definition's name: a double fire of rq-scheduler,
    or a fire while the previous run is still queued or running, returns the
    task already there instead of queueing a second one.
    """
    from .service import Service
    from .validation import parse_submission

    store = process_store()
    body = recurring_body(definition)
    sub = parse_submission(definition["deployment"], body)
    Service.preflight(sub)
    task, deduplicated = store.submit(sub)
    return {"task": task["id"], "deduplicated": deduplicated}


def recurring_body(definition: dict) -> dict:
    body = {k: v for k, v in definition.items() if k not in ("name", "cron", "deployment")}
    body.setdefault("dedupeKey", f"recurring:{definition['name']}")
    return body


def register(scheduler: Scheduler, settings: Settings) -> None:
    """Fixed job ids: registering again replaces a job, so restarts never double one."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    periodic = (("jobsvc-reconcile", "jobsvc.crons.reconcile_job", settings.reconcile_s,
                 [settings.reconcile_s]),
                ("jobsvc-cleanup", "jobsvc.crons.cleanup_job", CLEANUP_EVERY_S, []))
    for job_id, func, every_s, args in periodic:
        scheduler.schedule(scheduled_time=now, func=func, args=args, interval=every_s,
                           repeat=None, id=job_id, queue_name=MAINTENANCE_QUEUE,
                           result_ttl=int(every_s * 2) + 1, description=job_id)
    wanted = {RECURRING_PREFIX + d["name"]: d for d in settings.recurring}
    for job in scheduler.get_jobs():
        if job.id.startswith(RECURRING_PREFIX) and job.id not in wanted:
            scheduler.cancel(job)
    for job_id, definition in wanted.items():
        scheduler.cron(definition["cron"], func="jobsvc.crons.submit_recurring",
                       args=[definition], id=job_id, queue_name=MAINTENANCE_QUEUE,
                       result_ttl=3600, description=job_id)


def check_recurring(settings: Settings) -> None:
    """Refuses to start with a recurring task that could never be submitted."""
    from crontab import CronTab  # what rq-scheduler itself parses cron strings with

    from .validation import parse_submission

    for definition in settings.recurring:
        name = definition.get("name", "?")
        try:
            CronTab(str(definition.get("cron")))
        except ValueError as exc:
            raise ConfigError(f"recurring task {name!r}: invalid cron: {exc}") from None
        try:
            parse_submission(definition.get("deployment"), recurring_body(definition))
        except JobsvcError as exc:
            raise ConfigError(f"recurring task {name!r}: {exc.message}") from None


def run_scheduler(burst: bool = False, settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    registry.load(settings)
    check_recurring(settings)
    connection = client(resolve_url(settings), decode=False)
    while True:
        # rq-scheduler gives up on a Redis error; a restarted Redis must not stop the crons.
        try:
            scheduler = Scheduler(queue_name=MAINTENANCE_QUEUE, connection=connection,
                                  interval=POLL_S, job_class=TaskJob)
            register(scheduler, settings)
            log.info("scheduler: reconcile every %ss, %d recurring task(s)",
                     settings.reconcile_s, len(settings.recurring))
            scheduler.run(burst=burst)
            return
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            log.warning("scheduler: Redis unavailable (%s); starting again", exc)
            time.sleep(RESTART_S)
