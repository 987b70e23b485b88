"""Starting RQ workers for a pool, with the retry ticker beside them.

A worker of pool P listens on ``maintenance`` first, then ``critical-P``,
``high-P``, ``medium-P``, ``low-P``.  Each worker process also runs a small
ticker thread that hands tasks whose retry backoff is over back to RQ
(``take_due.lua`` gives each one to exactly one ticker).

A task's dispatch is run without RQ's per-job bookkeeping (``Dispatches``):
the task store already holds everything RQ would record about it.

``--max-tasks N`` stops a worker process once it has run N dispatches (task
attempts; the scheduler's maintenance jobs do not count, which RQ's own
``max_jobs`` would): each process of ``--count`` has its own N.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import redis
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.timeouts import HorseMonitorTimeoutException, JobTimeoutException
from rq.worker import WorkerStatus
from rq.worker.base import BaseWorker

from .. import faults, lifetime, runner
from ..dispatch import TaskJob, check_pool, is_dispatch, pool_queue_names
from ..policy import RQ_TIMEOUT_GRACE_S
from ..settings import DEFAULT_SHUTDOWN_S, Settings
from ..store import TaskStore, open_store
from ..types import loader
from .offering import Offering

log = logging.getLogger("jobsvc.worker")

# How often the ticker looks for retries whose backoff is over, in seconds.
TICK_S = 0.25
# A burst worker exits after this many seconds with nothing to do.
BURST_IDLE_S = 1
# Seconds between attempts to start a worker while Redis does not answer.
RESTART_S = 1.0
# RQ ignores a stop signal that comes less than a second after the first (a pool's
# and a terminal's arrive together), so the deadline's own signal comes later than that.
DEADLINE_MIN_S = 1.5
# A worker renews its RQ registration (its hash's TTL, minutes long) at most this
# often, in seconds; RQ renews it before and after every dequeue and after every job.
REGISTRATION_EVERY_S = 10.0
# How often a worker looks whether `rq suspend` holds, at most, in seconds
# (RQ looks before every job; jobsvc's own pause is `jobsvc drain`).
SUSPENSION_CHECK_S = 1.0


class ShutdownDeadline:
    """Warm shutdown with a deadline.

    The first SIGTERM/SIGINT lets the current task finish (RQ's warm
    shutdown); if it has not ended ``shutdown_s`` later, the worker signals
    itself again, which is RQ's cold shutdown: the work-horse is killed, the
    attempt's lease expires and the task is retried on another worker.

    The deadline starts once RQ has stamped the first signal, and is at least
    ``DEADLINE_MIN_S``: a second signal within a second of that stamp is one RQ
    ignores, and the worker then waited for its task forever.
    """

    shutdown_s: float = DEFAULT_SHUTDOWN_S
    _deadline: threading.Timer | None = None
    # True once told to stop: RQ's work() also returns after errors it swallows.
    signalled: bool = False

    def request_stop(self, signum, frame):  # type: ignore[no-untyped-def]
        self.signalled = True
        try:
            return super().request_stop(signum, frame)  # type: ignore[misc]
        finally:
            if self._deadline is None:
                self._deadline = threading.Timer(
                    max(self.shutdown_s, DEADLINE_MIN_S), os.kill, (os.getpid(), signal.SIGTERM)
                )
                self._deadline.daemon = True
                self._deadline.start()


class Budget:
    """How many more dispatches a worker process runs (None: no end).  It outlives
    the RQ worker objects, which ``run_worker`` makes anew after a Redis failure."""

    def __init__(self, max_tasks: int | None):
        self.left = max_tasks

    def spend(self) -> None:
        if self.left is not None:
            self.left -= 1

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0


class Dispatches(BaseWorker):
    """Runs a task's dispatch without RQ's per-job bookkeeping.

    For every job RQ writes an execution and its registries, the started and
    finished registries, job and worker heartbeats, the worker's state, the
    job's status and result: about 50 Redis commands in 15 round trips.  A
    dispatch's state lives in the task store (claim, lease, finish), and
    lost attempts are found by jobsvc's lease, not RQ's heartbeats
    (docs/guarantees.md), so none of that is needed: a dispatch costs the
    pop, the job's fetch, its popped mark (``popped.lua``), and the task's
    own scripts (``claim.lua`` deletes the RQ job).  Jobs that are not
    dispatches (the scheduler's maintenance jobs) take RQ's normal path.

    The worker's state is kept in memory while it runs a dispatch, so RQ's
    warm shutdown still waits for the task; ``GET /stats`` reads who runs
    what from the task store.
    """

    # The store this worker marks popped dispatches with (set by ``_rq_worker``).
    task_store: TaskStore
    # The dispatches it may still run (``--max-tasks``; set by ``_rq_worker``).
    budget: Budget = Budget(None)
    _dispatch: str | None = None
    _registered_until = 0.0
    _suspension_checked = float("-inf")

    def execute_job(self, job: Job, queue: Queue) -> None:
        if not is_dispatch(job):
            super().execute_job(job, queue)
            return
        # First of all, before a work-horse is forked: RQ's pop took the job out of
        # its queue, and if this process dies before the claim, this mark is what
        # lets the reconciler tell the job from one still waiting.
        self.task_store.mark_popped(job.id, job.key, self.name)
        faults.point("after_pop")
        self._dispatch = job.id
        self._state = WorkerStatus.BUSY  # memory only: RQ's warm shutdown reads it
        try:
            self.run_dispatch(job, queue)
        finally:
            self._dispatch = None
            self._state = WorkerStatus.IDLE
            self.budget.spend()
            if self.budget.spent:
                # RQ's loop looks at this before its next pop: the worker takes no more.
                self._stop_requested = True

    def run_dispatch(self, job: Job, queue: Queue) -> None:
        raise NotImplementedError

    def run_task(self, job: Job) -> None:
        """The attempt, with RQ's own timeout as the backstop behind the runner's."""
        timeout = job.timeout or RQ_TIMEOUT_GRACE_S
        try:
            with self.death_penalty_class(timeout, JobTimeoutException, job_id=job.id):
                runner.run_task(job.args[0], rq_job_key=job.key, worker=self.name)
        except Exception:  # noqa: BLE001  (the lease decides what happens to the task)
            log.exception("task %s: the attempt ended with an error", job.id)

    def get_current_job_id(self) -> str | None:
        """The task being run: ``rq.command``'s stop-job checks it (Dispatcher.stop_job)."""
        return self._dispatch or super().get_current_job_id()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """Renews the worker's registration when it would run out within
        REGISTRATION_EVERY_S of what the caller asks, instead of three times per job.
        Inside a pipeline it always writes: RQ reads the pipeline's replies by position."""
        ttl = timeout or self.worker_ttl + 60
        now = time.monotonic()
        if pipeline is None and self._registered_until - now >= ttl - REGISTRATION_EVERY_S:
            return
        super().heartbeat(timeout, pipeline)
        self._registered_until = now + ttl

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """Writes the state only when it changes (RQ writes it before every dequeue)."""
        if state != self._state:
            super().set_state(state, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        now = time.monotonic()
        if now - self._suspension_checked >= SUSPENSION_CHECK_S:
            super().check_for_suspension(burst)
            self._suspension_checked = time.monotonic()


class JobsvcSimpleWorker(Dispatches, ShutdownDeadline, SimpleWorker):
    def run_dispatch(self, job: Job, queue: Queue) -> None:
        self.run_task(job)


class JobsvcWorker(Dispatches, ShutdownDeadline, Worker):
    """The default: each attempt in a work-horse of its own, as RQ runs a job.

    RQ puts the horse in a process group of its own, out of reach of a signal
    to the worker's group; so the horse asks the kernel to kill it when the
    worker ends, however it ends (a supervisor's SIGKILL included): an
    orphaned horse ran its task on under PID 1, and held the supervisor's
    output pipe open, so honcho waited for it, sending SIGKILL to the
    worker's empty group ten times a second.
    """

    _worker_pid = 0

    def run_dispatch(self, job: Job, queue: Queue) -> None:
        self.fork_work_horse(job, queue)
        self.watch_horse(job)

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        """RQ's: fork, setpgrp, then main_work_horse (for maintenance jobs too)."""
        self._worker_pid = os.getpid()
        super().fork_work_horse(job, queue)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        lifetime.die_with_parent(signal.SIGKILL, self._worker_pid)
        if not is_dispatch(job):
            super().main_work_horse(job, queue)
            return
        random.seed()
        self.setup_work_horse_signals()  # type: ignore[no-untyped-call]
        self._is_horse = True
        self.run_task(job)
        os._exit(0)

    def watch_horse(self, job: Job) -> None:
        """Waits for the horse, renewing the worker's registration every
        job_monitoring_interval; kills it once RQ's timeout has passed (the
        backstop: the runner ends the attempt at the task's own timeout).
        A horse that dies leaves its attempt to the lease."""
        started = time.monotonic()
        while True:
            try:
                with self.death_penalty_class(
                    self.job_monitoring_interval, HorseMonitorTimeoutException
                ):
                    self.wait_for_horse()
                break
            except HorseMonitorTimeoutException:
                self.heartbeat(self.job_monitoring_interval + 60)
                if job.timeout and time.monotonic() - started > job.timeout + RQ_TIMEOUT_GRACE_S:
                    log.warning("task %s: work-horse past RQ's timeout; killing it", job.id)
                    self.kill_horse()
                    self.wait_for_horse()
                    break
            except OSError as exc:  # EINTR: a signal (a stop request) came in
                if exc.errno != errno.EINTR:
                    raise
        self._horse_pid = 0
        self._stopped_job_id = None


WORKER_CLASSES: dict[str, type[JobsvcWorker] | type[JobsvcSimpleWorker]] = {
    "fork": JobsvcWorker,
    "simple": JobsvcSimpleWorker,
}


class DueTicker(threading.Thread):
    """Moves due retries back to RQ until stopped.

    It has a store (and so a connection pool) of its own: a forking worker
    forks from its main thread while this thread may hold a connection.
    """

    def __init__(self, settings: Settings):
        super().__init__(name="jobsvc-due-ticker", daemon=True)
        self.store = open_store(settings)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(TICK_S):
            try:
                self.store.take_due()
            except Exception:  # noqa: BLE001  (Redis blips must not kill the ticker)
                log.exception("due ticker: could not hand over due retries")

    def pending(self) -> bool:
        return self.store.due_pending()


def run_worker(
    pool: str,
    *,
    burst: bool = False,
    worker_class: str = "fork",
    max_tasks: int | None = None,
    settings: Settings | None = None,
) -> None:
    """Runs one RQ worker in this process until it is stopped (or, burst, idle; or
    it has run ``max_tasks`` dispatches)."""
    settings = settings or Settings.from_env()
    budget = Budget(max_tasks)
    loader.load(settings)
    store = open_store(settings)
    runner.use_store(store)
    ticker = DueTicker(settings)
    ticker.start()
    offering = Offering(settings, pool)
    offering.start()
    try:
        while True:
            worker = _rq_worker(store, pool, worker_class, settings.shutdown_s)
            worker.budget = budget
            if not _work(worker, burst):
                continue
            if worker.signalled or budget.spent:
                break
            if burst:
                if not ticker.pending():
                    break
                ticker.stopped.wait(TICK_S)
                continue
            # RQ's work() returns after an error it logged (a Redis restart, say):
            # only a stop signal ends a worker.
            log.warning("worker: RQ's loop ended without a stop request; starting again")
            time.sleep(RESTART_S)
    finally:
        ticker.stopped.set()
        offering.stopped.set()


def _rq_worker(
    store: TaskStore, pool: str, worker_class: str, shutdown_s: float
) -> JobsvcWorker | JobsvcSimpleWorker:
    worker = WORKER_CLASSES[worker_class](
        pool_queue_names(pool),
        connection=store.dispatcher.connection,
        job_class=TaskJob,
        serializer=JSONSerializer,
    )
    worker.shutdown_s = shutdown_s
    worker.task_store = store
    return worker


def _work(worker: JobsvcWorker | JobsvcSimpleWorker, burst: bool) -> bool:
    """RQ's loop, until it returns (True) or Redis fails under it (False, after a pause)."""
    try:
        # Burst as "exit after BURST_IDLE_S idle": RQ's own burst mode polls each of
        # the pool's five queues with an LPOP per job; this blocks on all at once.
        worker.work(
            max_idle_time=BURST_IDLE_S if burst else None,
            logging_level="WARNING",
            with_scheduler=False,
        )
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("worker: Redis unavailable (%s); starting again", exc)
        time.sleep(RESTART_S)
        return False
    return True


def run_workers(
    pool: str,
    count: int,
    *,
    burst: bool = False,
    worker_class: str = "fork",
    max_tasks: int | None = None,
) -> int:
    """``count`` worker processes; SIGTERM/SIGINT go to each (warm shutdown).  Each
    runs at most ``max_tasks`` dispatches; this one returns when all have ended."""
    check_pool(pool)
    if count == 1:
        run_worker(pool, burst=burst, worker_class=worker_class, max_tasks=max_tasks)
        return 0
    argv = [
        sys.executable,
        "-m",
        "jobsvc",
        "worker",
        "--pool",
        pool,
        "--count",
        "1",
        "--worker-class",
        worker_class,
    ]
    argv += ["--burst"] if burst else []
    argv += ["--max-tasks", str(max_tasks)] if max_tasks is not None else []
    # Each stops as if told to (warm) when this process ends, however it ends.
    children = [
        subprocess.Popen(argv, preexec_fn=lifetime.child_dies_with_me(signal.SIGTERM))
        for _ in range(count)
    ]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, key=abs)
