"""The service as code sees it: the Python API, and what the web app and CLI call.

``connect(url)`` gives a ``Service``; its methods validate input exactly as
the HTTP API does (they share ``validation``), run preflight checks, and
leave every state change to the store.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .connection import resolve_url
from .dispatch import with_running
from .errors import Conflict, PreflightFailed
from .live import events as live
from .live.events import TaskStream
from .live.relay import Relay
from .live.sink import SocketSink
from .model import Task
from .processes import drain
from .processes.check import layout_warnings, redis_warnings
from .processes.reconcile import Report, reconcile_all
from .processes.retention import DEFAULT_DAYS, cleanup_deliveries, cleanup_ended
from .settings import Settings
from .store import open_store
from .store.metrics import MetricFigures
from .types import loader, registry
from .types.offers import OfferCache
from .validation import Submission, parse_submission
from .validation import deployment as valid_deployment
from .validation import status as valid_status
from .validation import stream_id as valid_stream_id
from .validation import task_id as valid_task_id
from .webhooks.model import delivery_id as valid_delivery_id
from .webhooks.model import delivery_status as valid_delivery_status

# How often a waiting call looks at a task again, in seconds.
POLL_S = 0.05
# Page sizes when the caller names none, and the most it may ask for (a larger
# request is a 400, not a cut: see docs/architecture.md): a task listing, the
# deployment listing (one dashboard screen), a deployment's queue (queueLimit).
DEFAULT_TASKS_LIMIT, MAX_TASKS_LIMIT = 50, 500
DEFAULT_DEPLOYMENTS_LIMIT, MAX_DEPLOYMENTS_LIMIT = 100, 500
DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT = 100, 1000
DEFAULT_DELIVERIES_LIMIT, MAX_DELIVERIES_LIMIT = 50, 500


class Service:
    def __init__(
        self,
        url: str,
        settings: Settings | None = None,
        *,
        pool_size: int | None = None,
        name: str | None = None,
    ):
        """``pool_size`` bounds each of the two connection pools (callers wait for a free one).

        ``JOBSVC_TASK_MODULES`` is imported on the first submit, not here: only a
        submit uses them (payload checks, preflight hooks), so `jobsvc status` or
        `tail` works even where a module does not import.
        """
        self.settings = settings or Settings.from_env()
        self.url = url
        self.store = open_store(self.settings, url, pool_size=pool_size, name=name)
        self.offers = OfferCache(self.store.offered_types)
        self._relay: Relay | None = None
        self._relay_lock = threading.Lock()
        self._types_loaded = False
        self._types_lock = threading.Lock()

    # -- submitting --------------------------------------------------------------

    def submit_body(self, deployment: str, body: Any) -> tuple[dict[str, Any], bool]:
        """A submission as the HTTP API receives it -> (task JSON, deduplicated).

        Its type must be one the workers offer (``types.offers.accepted``).
        """
        self.load_types()
        sub = parse_submission(deployment, body, self.offers.find)
        self.preflight(sub)
        return self.store.submit(sub)

    def submit(
        self,
        deployment: str,
        type: str,
        payload: dict[str, Any] | None = None,
        *,
        priority: str | None = None,
        dedupe_key: str | None = None,
        key_fields: dict[str, Any] | None = None,
        cooldown: int | None = None,
        retries: int | None = None,
        timeout: int | None = None,
        metadata: dict[str, Any] | None = None,
        depends_on: list[str] | None = None,
    ) -> Task:
        """Queues a task (see the HTTP submit); ``depends_on``: ids of tasks that
        must complete before it starts."""
        body = {
            "type": type,
            "payload": payload,
            "priority": priority,
            "dedupeKey": dedupe_key,
            "keyFields": key_fields,
            "cooldownS": cooldown,
            "maxRetries": retries,
            "timeoutS": timeout,
            "metadata": metadata,
            "dependsOn": depends_on,
        }
        task, deduplicated = self.submit_body(
            deployment, {k: v for k, v in body.items() if v is not None}
        )
        return Task(task, deduplicated)

    def load_types(self) -> None:
        """Imports JOBSVC_TASK_MODULES once (a ConfigError if one does not import:
        its preflight hooks must not be skipped silently)."""
        with self._types_lock:
            if not self._types_loaded:
                loader.load(self.settings)
                self._types_loaded = True

    def types(self) -> list[dict[str, Any]]:
        """The types a submit may name: those workers offer, and the built-ins."""
        return self.offers.listing()

    @staticmethod
    def preflight(sub: Submission) -> None:
        """Runs the type's preflight checks; PreflightFailed (422) names the first that fails."""
        task_type = registry.get(sub.type)
        for check in task_type.preflight if task_type else ():
            reason = check(sub.payload)
            if reason:
                raise PreflightFailed(f"preflight failed for {sub.type}: {reason}")

    # -- reading -------------------------------------------------------------------

    def get(self, task_id: str) -> Task:
        return Task(self.store.get(valid_task_id(task_id)))

    def list_tasks(
        self,
        *,
        deployment: str | None = None,
        status: str | None = None,
        type_: str | None = None,
        limit: int = DEFAULT_TASKS_LIMIT,
        cursor: int | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first, filtered by what is given; the cursor continues below a page."""
        return self.store.list_tasks(
            deployment=None if deployment is None else valid_deployment(deployment),
            status=None if status is None else valid_status(status),
            type_=type_,
            limit=limit,
            cursor=cursor,
        )

    # Named as the contract's Python API names it; the annotations below that
    # mean the built-in say ``builtins.list``.
    def list(
        self,
        *,
        deployment: str | None = None,
        status: str | None = None,
        type: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Task]:
        """Tasks newest first, filtered by what is given, at most ``limit`` (all if None).

        Reads one page at a time through the listing's cursor, so a long
        history is never loaded at once.
        """
        left, cursor = limit, None
        while left is None or left > 0:
            page = DEFAULT_TASKS_LIMIT if left is None else min(left, DEFAULT_TASKS_LIMIT)
            tasks, cursor = self.list_tasks(
                deployment=deployment, status=status, type_=type, limit=page, cursor=cursor
            )
            for data in tasks:
                yield Task(data)
            left = None if left is None else left - len(tasks)
            if cursor is None or not tasks:
                return

    def delete(self, task_id: str) -> None:
        """Deletes an ended task and its output (a task not yet ended, or one that
        a waiting task depends on, is a Conflict)."""
        task = self.get(task_id)
        if not self.store.delete(task.id):
            raise Conflict(
                f"task {task.id} is {task.status}: only an ended task that no waiting "
                "task depends on can be deleted"
            )

    def log(self, task_id: str) -> str:
        """The task's whole output (capped at JOBSVC_LOG_MAX_BYTES)."""
        return self.store.log(valid_task_id(task_id))

    def wait(self, task_id: str, timeout: float | None = None) -> Task:
        """Blocks until the task has ended (or the timeout passes) and returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = self.get(task_id)
            if task.ended or (deadline is not None and time.monotonic() >= deadline):
                return task
            time.sleep(POLL_S)

    def events(self, task_id: str, since: str | None = None) -> Iterator[dict[str, Any]]:
        """The task's events (log, progress, status, step) from ``since``, live, until it ends.

        The same path as the web's live viewers, on this Service's own relay.
        """
        stream = self.open_events(task_id, since)
        return (event for event in self.task_events(stream) if event is not None)

    # -- live viewers -----------------------------------------------------------------

    @property
    def relay(self) -> Relay:
        """This process's relay for live viewers (one hub, a few catch-up connections),
        built on first use: a process that never watches opens none of it."""
        with self._relay_lock:
            if self._relay is None:
                self._relay = Relay(self.url)
            return self._relay

    def open_events(
        self, task_id: str, since: str | None = None, field: str = "since"
    ) -> TaskStream:
        """Everything that can refuse a task's live stream, checked before it starts:
        the task id and the task (404), the resume point (400 naming ``field``)."""
        task_id, since = valid_task_id(task_id), valid_stream_id(since, field)
        return live.open_task(self.relay.reads, self.store, task_id, since, field)

    def task_events(self, stream: TaskStream) -> Iterator[dict[str, Any] | None]:
        """A checked stream's events until the task's terminal status; None on a quiet
        keep-alive interval."""
        if stream.final is not None:
            return iter(stream.final)
        relay = self.relay
        return live.task_events(relay.hub, relay.reads, stream, self.settings.keepalive_s)

    def task_events_into(
        self, stream: TaskStream, out: SocketSink, still_there: Callable[[], bool]
    ) -> bool:
        """A checked, live stream written to a WebSocket viewer's sink (``live.follow_into``)."""
        relay = self.relay
        return live.follow_into(
            relay.hub,
            relay.reads,
            stream,
            out,
            still_there,
            self.settings.keepalive_s,
        )

    def dashboard_events(self) -> Iterator[dict[str, Any] | None]:
        """A snapshot of every deployment, then one message per lane change."""
        return live.dashboard_events(self.relay.hub, self.store, self.settings.keepalive_s)

    def deployment(self, name: str, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> dict[str, Any]:
        """Summary S plus ``queue``: the active task, then those behind it (at most
        ``queue_limit``; ``queueDepth`` counts them all)."""
        summary = self.store.summary(valid_deployment(name))
        ids = self.store.lane_task_ids(name, queue_limit)
        summary["queue"] = [t for t in self.store.get_many(ids) if t is not None]
        return summary

    def deployments(
        self, cursor: str | None = None, limit: int = DEFAULT_DEPLOYMENTS_LIMIT
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        names, next_cursor = self.store.deployments(cursor, limit)
        return self.store.summaries(names), next_cursor

    def ping(self) -> bool:
        """True when Redis answers; its connection error (a 503 on the web) when it does not."""
        return self.store.ping()

    def busy_lanes(self) -> builtins.list[dict[str, Any]]:
        """The summaries of the lanes with an active or waiting task."""
        return self.store.summaries(self.store.busy_deployments())

    def metrics(self) -> MetricFigures:
        """What ``GET /metrics`` shows, read from Redis now."""
        return self.store.metric_figures()

    def stats(self) -> dict[str, Any]:
        stats = self.store.counts()
        stats["draining"] = self.store.draining()
        stats["workers"] = with_running(
            self.store.dispatcher.workers(), self.store.running_by_worker()
        )
        return stats

    # -- acting ----------------------------------------------------------------------

    def cancel(self, task_id: str, wait: float | None = None) -> Task:
        """Queued tasks end at once; a running one is stopped, waited for up to ``wait``."""
        if self.store.cancel(valid_task_id(task_id)) == "requested":
            return self.wait(task_id, self.settings.cancel_wait_s if wait is None else wait)
        return self.get(task_id)

    def skip(self, task_id: str) -> Task:
        self.store.skip(valid_task_id(task_id))
        return self.get(task_id)

    def retry(self, task_id: str, from_start: bool = False) -> Task:
        """Queues a failed or canceled task again: it resumes after its completed
        steps, keeping ``ctx.state``, unless ``from_start`` clears both."""
        self.store.requeue(valid_task_id(task_id), from_start)
        return self.get(task_id)

    def pause(self, name: str) -> dict[str, Any]:
        self.store.set_paused(valid_deployment(name), True)
        return self.store.summary(name)

    def resume(self, name: str) -> dict[str, Any]:
        self.store.set_paused(valid_deployment(name), False)
        return self.store.summary(name)

    # -- webhook deliveries -------------------------------------------------------------

    def list_deliveries(
        self,
        status: str | None = None,
        limit: int = DEFAULT_DELIVERIES_LIMIT,
        cursor: int | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], int | None]:
        """Deliveries newest first (one status, or all); the cursor continues below a page."""
        status = None if status is None else valid_delivery_status(status)
        return self.store.list_deliveries(status, limit, cursor)

    def deliveries(
        self, status: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Deliveries newest first, at most ``limit`` (all if None), read page by page."""
        left, cursor = limit, None
        while left is None or left > 0:
            page = DEFAULT_DELIVERIES_LIMIT if left is None else min(left, MAX_DELIVERIES_LIMIT)
            found, cursor = self.list_deliveries(status, page, cursor)
            yield from found
            left = None if left is None else left - len(found)
            if cursor is None or not found:
                return

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        """Queues a delivered or failed delivery again, under the same webhook-id
        (a pending one is a Conflict: it is queued already)."""
        return self.store.redeliver(valid_delivery_id(delivery_id))

    # -- upkeep (the CLI's maintenance commands) --------------------------------------

    def reconcile(self) -> Report:
        """One reconcile pass now, as the scheduler runs every JOBSVC_RECONCILE_S."""
        return reconcile_all(self.store)

    def cleanup(
        self,
        days: float = DEFAULT_DAYS,
        grace_s: float = 0.0,
        *,
        dry_run: bool = False,
        on_delete: Callable[[str], None] | None = None,
    ) -> tuple[int, int]:
        """Retention now: (flagged, deleted); ``dry_run`` only counts; see
        ``processes.retention``."""
        return cleanup_ended(self.store, days, grace_s, dry_run=dry_run, on_delete=on_delete)

    def cleanup_deliveries(self) -> int:
        """Webhook deliveries' retention now (JOBSVC_WEBHOOK_RETENTION_S): how many were deleted."""
        return cleanup_deliveries(self.store, self.settings.webhook_retention_s)

    def drain(self, timeout: float, progress: Callable[[int], None]) -> builtins.list[str]:
        """Starts nothing new and waits for running tasks; returns those still running."""
        drain.start(self.store)
        return drain.wait(self.store, timeout, progress)

    def end_drain(self) -> Report:
        """Lifts the drain; what it held back goes to RQ at once."""
        return drain.resume(self.store)

    def check(self) -> builtins.list[str]:
        """What in the Redis in use could lose tasks, or predates today's key layout."""
        return redis_warnings(self.store) + layout_warnings(self.store)


def connect(url: str | None = None, settings: Settings | None = None) -> Service:
    """A Service on ``url``, else on JOBSVC_REDIS_URL, else on `jobsvc up`'s Redis."""
    settings = settings or Settings.from_env()
    return Service(url or resolve_url(settings), settings)
