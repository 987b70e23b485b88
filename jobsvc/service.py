"""The service as code sees it: the Python API, and what the web app and CLI call.

``connect(url)`` gives a ``Service``; its methods validate input exactly as
the HTTP API does (they share ``validation``), run preflight checks, and
leave every state change to the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from rq import Worker
from rq.serializers import JSONSerializer

from . import registry
from .connection import client, resolve_url
from .errors import PreflightFailed
from .model import Task
from .settings import Settings
from .store import TaskStore
from .validation import Submission, parse_submission
from .validation import deployment as valid_deployment
from .validation import task_id as valid_task_id

# How often a waiting call looks at a task again, in seconds.
POLL_S = 0.05
# Tasks of a deployment's queue shown by default, and at most (the contract's queueLimit).
DEFAULT_QUEUE_LIMIT = 100
MAX_QUEUE_LIMIT = 1000


class Service:
    def __init__(self, url: str, settings: Settings | None = None, *,
                 pool_size: int | None = None, name: str | None = None):
        """``pool_size`` bounds each of the two connection pools (callers wait for a free one)."""
        self.settings = settings or Settings.from_env()
        registry.load(self.settings)
        self.url = url
        self.rq_client = client(url, decode=False, max_connections=pool_size, name=name)
        self.store = TaskStore(client(url, max_connections=pool_size, name=name),
                               self.rq_client, self.settings)

    # -- submitting --------------------------------------------------------------

    def submit_body(self, deployment: str, body: Any) -> tuple[dict, bool]:
        """A submission as the HTTP API receives it -> (task JSON, deduplicated)."""
        sub = parse_submission(deployment, body)
        self.preflight(sub)
        return self.store.submit(sub)

    def submit(
        self, deployment: str, type: str, payload: dict | None = None, *,
        priority: str | None = None, dedupe_key: str | None = None,
        key_fields: dict | None = None, cooldown: int | None = None,
        retries: int | None = None, timeout: int | None = None,
        metadata: dict | None = None,
    ) -> Task:
        body = {
            "type": type, "payload": payload, "priority": priority, "dedupeKey": dedupe_key,
            "keyFields": key_fields, "cooldownS": cooldown, "maxRetries": retries,
            "timeoutS": timeout, "metadata": metadata,
        }
        task, _ = self.submit_body(deployment, {k: v for k, v in body.items() if v is not None})
        return Task(task)

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

    def wait(self, task_id: str, timeout: float | None = None) -> Task:
        """Blocks until the task has ended (or the timeout passes) and returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = self.get(task_id)
            if task.ended or (deadline is not None and time.monotonic() >= deadline):
                return task
            time.sleep(POLL_S)

    def events(self, task_id: str, since: str | None = None) -> Iterator[dict]:
        """The task's events (log, progress, status, step) from ``since``, live, until it ends."""
        from .live import follow_task

        return follow_task(self.store.client, self.store, valid_task_id(task_id), since or "0")

    def deployment(self, name: str, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> dict:
        """Summary S plus ``queue``: the active task, then those behind it (at most
        ``queue_limit``; ``queueDepth`` counts them all)."""
        summary = self.store.summary(valid_deployment(name))
        ids = self.store.lane_task_ids(name, queue_limit)
        summary["queue"] = [t for t in self.store.get_many(ids) if t is not None]
        return summary

    def deployments(self, cursor: str | None = None, limit: int = 100
                    ) -> tuple[list[dict], str | None]:
        names, next_cursor = self.store.deployments(cursor, limit)
        return self.store.summaries(names), next_cursor

    def stats(self) -> dict:
        from . import drain

        stats = self.store.counts()
        stats["draining"] = drain.draining(self.store)
        # A worker records no RQ state for the tasks it runs (workers.Dispatches):
        # the task store says which task each one runs.
        running = self.store.running_by_worker()
        stats["workers"] = [
            {"name": w.name, "state": "busy" if w.name in running else str(w.get_state()),
             "queues": w.queue_names(),
             "currentJobId": running.get(w.name) or w.get_current_job_id()}
            for w in Worker.all(connection=self.rq_client, serializer=JSONSerializer)
        ]
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

    def retry(self, task_id: str) -> Task:
        self.store.requeue(valid_task_id(task_id))
        return self.get(task_id)

    def pause(self, name: str) -> dict:
        self.store.set_paused(valid_deployment(name), True)
        return self.store.summary(name)

    def resume(self, name: str) -> dict:
        self.store.set_paused(valid_deployment(name), False)
        return self.store.summary(name)


def connect(url: str | None = None, settings: Settings | None = None) -> Service:
    """A Service on ``url``, else on JOBSVC_REDIS_URL, else on `jobsvc up`'s Redis."""
    settings = settings or Settings.from_env()
    return Service(url or resolve_url(settings), settings)
