"""Hands promoted tasks to RQ, and the rest of what jobsvc asks of RQ itself.

One job per dispatch, job id = task id.

The RQ job's only argument is the task id and every queue uses RQ's JSON
serializer, so nothing a client sent is ever pickled.  A dispatch happens
right after the Lua step that promoted the task; if this process dies in
between, the task is active and queued with no RQ job, and
``processes.reconcile`` hands it over again (see docs/architecture.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, NamedTuple

from redis import Redis
from rq import Queue, Worker
from rq.command import send_command
from rq.job import Job
from rq.serializers import JSONSerializer

from .errors import ConfigError
from .policy import RQ_TIMEOUT_GRACE_S
from .states import PRIORITIES

log = logging.getLogger("jobsvc.dispatch")

# The RQ job function: a dotted path, so RQ never pickles a callable.
JOB_FUNC = "jobsvc.runner.run_task"
# Queue for the reconcilers; every worker serves it first.
MAINTENANCE_QUEUE = "maintenance"
# The field of an RQ job hash a worker writes when it pops the job
# (scripts/popped.lua): "<µs of Redis' clock> <worker name>".
POPPED_FIELD = "jobsvc_popped"
# RQ statuses of a job that will still run without being in a queue list.
WAITING_ELSEWHERE = ("scheduled", "deferred")


# A pool name: no ``:``, since RQ builds ``rq:queue:<queue name>:intermediate``
# and a pool name ending in ``:intermediate`` would spell another queue's key.
POOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_pool(pool: str) -> str:
    """Pools are named in code and on the command line: a bad one stops the start."""
    if not isinstance(pool, str) or not POOL_RE.fullmatch(pool):
        raise ConfigError(f"pool name {pool!r} must match {POOL_RE.pattern}")
    return pool


def queue_name(pool: str, priority: str) -> str:
    """The pool's name comes last, as a name does in every key (see keys.py)."""
    return f"{priority}-{pool}"


def pool_of(queue_names: Iterable[str]) -> str | None:
    """The pool a worker serves, read from the queues it listens on
    (``queue_name``'s form); None for a worker that serves no pool."""
    for name in queue_names:
        priority, sep, pool = name.partition("-")
        if sep and priority in PRIORITIES and POOL_RE.fullmatch(pool):
            return pool
    return None


# A worker's state as the listings count it, and the pool of a worker of other queues.
BUSY, IDLE, NO_POOL = "busy", "idle", "-"


def with_running(workers: list[dict[str, Any]], running: dict[str, str]) -> list[dict[str, Any]]:
    """RQ's worker listing with the task each worker runs: a worker records no RQ
    state for a dispatch (processes/worker.py's Dispatches), the task store does."""
    for worker in workers:
        if worker["name"] in running:
            worker["state"] = BUSY
            worker["currentJobId"] = running[worker["name"]]
    return workers


def worker_counts(workers: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """{pool: {"busy": n, "idle": n}} of a listing ``with_running``: a worker is busy
    while it runs a task or a maintenance job (RQ's ``busy``), idle otherwise
    (RQ's ``started``, a worker starting up, and ``suspended`` included); a worker
    of no jobsvc pool is counted under ``NO_POOL``."""
    counts: dict[str, dict[str, int]] = {}
    for worker in workers:
        pool = counts.setdefault(worker.get("pool") or NO_POOL, {BUSY: 0, IDLE: 0})
        pool[BUSY if worker["state"] == BUSY else IDLE] += 1
    return counts


def pool_queue_names(pool: str) -> list[str]:
    """What a worker of ``pool`` listens on, in the order it serves them."""
    return [MAINTENANCE_QUEUE] + [queue_name(check_pool(pool), p) for p in PRIORITIES]


def is_dispatch(job: Job) -> bool:
    """A task's dispatch (``run_task(task id)``), as opposed to a maintenance job."""
    return job.func_name == JOB_FUNC


class TaskJob(Job):
    """The RQ job class of jobsvc: JSON even when its creator names no serializer
    (rq-scheduler does not), and deleted in one step once done.

    A task's result lives in the task store, so every dispatch says
    ``result_ttl=0``; RQ then deletes the finished job with reads of its
    status and registries first.  A jobsvc job has no dependents, group or
    rate limit, so deleting its hash is all there is to it, inside the
    pipeline RQ already runs.
    """

    def __init__(
        self, id: str | None = None, connection: Redis | None = None, serializer: Any = None
    ) -> None:
        super().__init__(id, connection=connection, serializer=serializer or JSONSerializer)

    def cleanup(self, ttl=None, pipeline=None, remove_from_queue=True):  # type: ignore[no-untyped-def]
        if ttl == 0:
            (pipeline if pipeline is not None else self.connection).delete(self.key)
            return
        super().cleanup(ttl, pipeline=pipeline, remove_from_queue=remove_from_queue)


class RqJob(NamedTuple):
    """What the reconciler needs to know of a dispatch's RQ job, read in O(1)."""

    # RQ's status, None when the job hash is gone.
    status: str | None
    # When a worker popped it (µs of Redis' clock), None if none did.
    popped_at: int | None

    @property
    def exists(self) -> bool:
        return self.status is not None


def _text(value: bytes | str | None) -> str | None:
    """A reply of RQ's client (which returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value


class Dispatcher:
    """Enqueues RQ jobs for dispatch infos returned by the Lua scripts."""

    def __init__(self, rq_connection: Redis):
        self.connection = rq_connection
        self._queues: dict[str, Queue] = {}

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(
                name, connection=self.connection, job_class=TaskJob, serializer=JSONSerializer
            )
        return self._queues[name]

    def publish(self, dispatch: Iterable[tuple[str, str, str, int]]) -> None:
        """One pipeline, one round trip, however many tasks were promoted."""
        self._enqueue(dispatch, replace=False)

    def republish(self, dispatch: Iterable[tuple[str, str, str, int]]) -> None:
        """``publish`` over what is left of an earlier job of the same id, deleted
        first: RQ's save writes its fields over the old hash, which would keep
        an old popped mark."""
        self._enqueue(dispatch, replace=True)

    def _enqueue(self, dispatch: Iterable[tuple[str, str, str, int]], replace: bool) -> None:
        items = list(dispatch)
        if not items:
            return
        with self.connection.pipeline(transaction=False) as pipe:
            # RQ's enqueue turns the pipeline into a MULTI before its first
            # command, and refuses to once commands are queued: so it is done here.
            pipe.multi()
            for task_id, pool, priority, timeout_s in items:
                if replace:
                    pipe.delete(TaskJob.key_for(task_id))
                self.queue(queue_name(pool, priority)).enqueue_call(
                    JOB_FUNC,
                    args=(task_id,),
                    job_id=task_id,
                    timeout=timeout_s + RQ_TIMEOUT_GRACE_S,
                    # The task store keeps results; RQ deletes its job when done.
                    result_ttl=0,
                    failure_ttl=24 * 3600,
                    description=f"jobsvc task {task_id}",
                    pipeline=pipe,
                )
            pipe.execute()

    def rq_job(self, task_id: str) -> RqJob:
        """The dispatch's RQ job: its status and popped mark, in one HMGET."""
        status, mark = map(
            _text, self.connection.hmget(TaskJob.key_for(task_id), "status", POPPED_FIELD)
        )
        return RqJob(status, None if mark is None else int(mark.split(" ", 1)[0]))

    def in_queue(self, task_id: str, pool: str, priority: str) -> bool:
        """Whether the job's id is still in its RQ queue list: ``LPOS``, which reads
        the list up to it (O(queue length)); only the reconciler's sweep asks."""
        key = self.queue(queue_name(pool, priority)).key
        return self.connection.lpos(key, task_id) is not None

    def stop_job(self, task_id: str, worker: str | None) -> None:
        """Asks the RQ worker that claimed the attempt to kill its work-horse
        (RQ's stop-job command, which the worker obeys only while it runs that task).

        A forking worker kills the horse; a simple worker cannot, but its runner
        finds its token fenced off at the next heartbeat and stops the handler.
        """
        if worker:
            send_command(self.connection, worker, "stop-job", job_id=task_id)

    def workers(self) -> list[dict[str, Any]]:
        """The RQ workers registered in Redis, as ``GET /stats`` lists them, each
        with the pool it serves."""
        return [
            {
                "name": w.name,
                "pool": pool_of(w.queue_names()),
                "state": str(w.get_state()),
                "queues": w.queue_names(),
                "currentJobId": w.get_current_job_id(),
                "lastHeartbeat": utc_iso(w.last_heartbeat),
            }
            for w in Worker.all(connection=self.connection, serializer=JSONSerializer)
        ]


def utc_iso(moment: datetime | None) -> str | None:
    """An RQ time (naive UTC, or aware) in the contract's ISO form with a ``Z``."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
