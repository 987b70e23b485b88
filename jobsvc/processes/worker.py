"""Starting RQ workers for a pool, with the retry ticker beside them.

A worker of pool P listens on ``maintenance`` first, then ``critical-P``,
``high-P``, ``medium-P``, ``low-P``.  Each worker process also runs a small
ticker thread that hands tasks whose retry backoff is over back to RQ
(``take_due.lua`` gives each one to exactly one ticker).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import redis
from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer

from .. import runner
from ..dispatch import TaskJob, check_pool, pool_queue_names
from ..settings import DEFAULT_SHUTDOWN_S, Settings
from ..store import TaskStore, open_store
from ..types import loader

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


class JobsvcWorker(ShutdownDeadline, Worker):
    pass


class JobsvcSimpleWorker(ShutdownDeadline, SimpleWorker):
    pass


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
    pool: str, *, burst: bool = False, worker_class: str = "fork", settings: Settings | None = None
) -> None:
    """Runs one RQ worker in this process until it is stopped (or, burst, idle)."""
    settings = settings or Settings.from_env()
    loader.load(settings)
    store = open_store(settings)
    runner.use_store(store)
    ticker = DueTicker(settings)
    ticker.start()
    try:
        while True:
            worker = _rq_worker(store, pool, worker_class, settings.shutdown_s)
            if not _work(worker, burst):
                continue
            if worker.signalled:
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


def run_workers(pool: str, count: int, *, burst: bool = False, worker_class: str = "fork") -> int:
    """``count`` worker processes; SIGTERM/SIGINT go to each (warm shutdown)."""
    check_pool(pool)
    if count == 1:
        run_worker(pool, burst=burst, worker_class=worker_class)
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
    ] + (["--burst"] if burst else [])
    children = [subprocess.Popen(argv) for _ in range(count)]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, key=abs)
