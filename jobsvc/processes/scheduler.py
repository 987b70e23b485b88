"""The scheduler process: rq-scheduler firing jobsvc's periodic jobs (``crons``).

Registration uses fixed job ids, so restarting the scheduler, or running
two, never doubles the jobs.  Jobs are JSON-serialized (``dispatch.TaskJob``)
like every other RQ job of jobsvc.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import redis
from crontab import CronTab  # what rq-scheduler itself parses cron strings with
from rq_scheduler import Scheduler

from .. import crons
from ..connection import client, resolve_url
from ..dispatch import MAINTENANCE_QUEUE, TaskJob
from ..errors import ConfigError, JobsvcError
from ..settings import Settings
from ..types import loader
from ..validation import parse_submission

log = logging.getLogger("jobsvc.scheduler")

# How often rq-scheduler looks for due jobs, in seconds.
POLL_S = 1
# Seconds between attempts to start the scheduler while Redis does not answer.
RESTART_S = 1.0
# Job ids of recurring tasks start with this; others on the scheduler are left alone.
RECURRING_PREFIX = "jobsvc-recurring-"


def register(scheduler: Scheduler, settings: Settings) -> None:
    """Fixed job ids: registering again replaces a job, so restarts never double one.

    RQ stores each function by its dotted path, ``jobsvc.crons.<name>``.
    """
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    periodic: tuple[tuple[str, Callable[..., dict[str, Any]], float, list[float]], ...] = (
        ("jobsvc-reconcile", crons.reconcile_job, settings.reconcile_s, [settings.reconcile_s]),
        ("jobsvc-cleanup", crons.cleanup_job, crons.CLEANUP_EVERY_S, []),
    )
    for job_id, func, every_s, args in periodic:
        scheduler.schedule(
            scheduled_time=now,
            func=func,
            args=args,
            interval=every_s,
            repeat=None,
            id=job_id,
            queue_name=MAINTENANCE_QUEUE,
            result_ttl=int(every_s * 2) + 1,
            description=job_id,
        )
    wanted = {RECURRING_PREFIX + d["name"]: d for d in settings.recurring}
    for job in scheduler.get_jobs():
        if job.id.startswith(RECURRING_PREFIX) and job.id not in wanted:
            scheduler.cancel(job)
    for job_id, definition in wanted.items():
        scheduler.cron(
            definition["cron"],
            func=crons.submit_recurring,
            args=[definition],
            id=job_id,
            queue_name=MAINTENANCE_QUEUE,
            result_ttl=3600,
            description=job_id,
        )


def check_recurring(settings: Settings) -> None:
    """Refuses to start with a recurring task that could never be submitted."""
    for definition in settings.recurring:
        name = definition.get("name", "?")
        try:
            CronTab(str(definition.get("cron")))
        except ValueError as exc:
            raise ConfigError(f"recurring task {name!r}: invalid cron: {exc}") from None
        try:
            parse_submission(definition.get("deployment"), crons.recurring_body(definition))
        except JobsvcError as exc:
            raise ConfigError(f"recurring task {name!r}: {exc.message}") from None


def run_scheduler(burst: bool = False, settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    loader.load(settings)
    check_recurring(settings)
    connection = client(resolve_url(settings), decode=False)
    while True:
        # rq-scheduler gives up on a Redis error; a restarted Redis must not stop the crons.
        try:
            scheduler = Scheduler(
                queue_name=MAINTENANCE_QUEUE,
                connection=connection,
                interval=POLL_S,
                job_class=TaskJob,
            )
            register(scheduler, settings)
            log.info(
                "scheduler: reconcile every %ss, %d recurring task(s)",
                settings.reconcile_s,
                len(settings.recurring),
            )
            scheduler.run(burst=burst)
            return
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            log.warning("scheduler: Redis unavailable (%s); starting again", exc)
            time.sleep(RESTART_S)
