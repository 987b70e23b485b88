"""Runs one attempt of a task inside an RQ job.

``run_task(task_id)`` is the RQ job function.  It claims the task (which
grants the attempt its fencing token and lease), runs the handler in the
process's handler thread, and from the calling thread -- the process that runs the
handler, so a killed work-horse stops proving life -- renews the lease,
watches for a cancel request and enforces the hard timeout.  Then it
finishes the attempt in one Lua step that also moves the lane on.

A handler runs in a thread, so it cannot be killed outright: on timeout or
cancel it is asked to stop (``ctx.stopping``, registered stop callbacks,
and an exception raised into it at the next Python bytecode), and its
writes are refused once the attempt has ended.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import logging
import os
import queue
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import redis

from . import faults, task_secrets
from .context import Context, TaskCanceled, TaskStop, TaskTimeout
from .policy import backoff_ms
from .settings import Settings
from .steps import StepMismatch
from .store import TaskStore, open_store
from .store.replies import Claim
from .task_secrets import SecretMissing
from .types import loader, registry

log = logging.getLogger("jobsvc.runner")

# Seconds a stopped handler gets to clean up before the attempt ends anyway.
STOP_GRACE_S = 2.0
# How long an attempt keeps trying to record its end through a Redis outage.
# Past it the attempt is given up: its lease expires and it is run again.
FINISH_RETRY_S = 120.0


def error_info(reason: str, exc: BaseException | None, started: float, attempt: int) -> dict:
    info: dict[str, Any] = {
        "reason": reason,
        "type": type(exc).__name__ if exc else reason,
        "message": str(exc) if exc else reason,
        "traceback": "".join(traceback.format_exception(exc)) if exc else None,
        "attempt": attempt,
        "durationS": round(time.monotonic() - started, 3),
    }
    return info


def retry_redis(call: Any, deadline_s: float = FINISH_RETRY_S) -> Any:
    """Retries a token-fenced write through a Redis outage (it is safe to repeat)."""
    deadline = time.monotonic() + deadline_s
    delay = 0.1
    while True:
        try:
            return call()
        except redis.RedisError:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("Redis unavailable; retrying in %.1fs", delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


@dataclass(eq=False)
class Run:
    """One attempt's handler call, and what it returned or raised."""

    handler: Any
    ctx: Context
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    exc: BaseException | None = None

    def __call__(self) -> None:
        try:
            self.result = self.handler(self.ctx, self.ctx.payload)
            json.dumps(self.result)
        except BaseException as exc:  # noqa: BLE001  (everything is reported)
            self.exc = exc
        finally:
            self.done.set()


class HandlerThread(threading.Thread):
    """Runs the handlers of a process's attempts, one after another.

    One long-lived thread instead of one started per attempt.  A thread an
    attempt had to interrupt is retired, never reused: the exception raised
    into it could still land after its handler returned.
    """

    _started = itertools.count(1)

    def __init__(self) -> None:
        super().__init__(name=f"jobsvc-handler-{next(self._started)}", daemon=True)
        self.runs: queue.SimpleQueue[Run | None] = queue.SimpleQueue()
        self.current: Run | None = None

    def run(self) -> None:
        while (run := self.runs.get()) is not None:
            self.current = run
            run()
            self.current = None

    def interrupt(self, run: Run, exc_type: type[BaseException]) -> None:
        """Asks the handler to stop: event, callbacks, then an exception raised into it."""
        run.ctx.stopping.set()
        for callback in run.ctx._on_stop:
            try:
                callback()
            except Exception:  # noqa: BLE001
                log.exception("stop callback of task %s failed", run.ctx.task_id)
        if self.ident is not None and self.current is run and not run.done.is_set():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.ident), ctypes.py_object(exc_type)
            )
        run.done.wait(STOP_GRACE_S)
        self.runs.put(None)


_HANDLERS: HandlerThread | None = None


def start_handler(handler: Any, ctx: Context) -> tuple[HandlerThread, Run]:
    """Hands the handler to this process's handler thread (started if there is none,
    or if the one there was retired or did not survive a fork)."""
    global _HANDLERS
    if _HANDLERS is None or not _HANDLERS.is_alive():
        _HANDLERS = HandlerThread()
        _HANDLERS.start()
    run = Run(handler, ctx)
    _HANDLERS.runs.put(run)
    return _HANDLERS, run


def retire(thread: HandlerThread) -> None:
    """No later attempt runs on ``thread`` (it ends when its handler returns)."""
    global _HANDLERS
    if _HANDLERS is thread:
        _HANDLERS = None


class Attempt:
    """One claimed attempt: supervise the handler, then finish."""

    def __init__(self, store: TaskStore, task_id: str, claim: Claim):
        deployment, token = claim.deployment, claim.token
        self.store, self.task_id, self.deployment, self.token = store, task_id, deployment, token
        self.retry_count = claim.retry_count
        self.type_name = claim.type
        self.timeout_s = claim.timeout_s
        self.task_type = registry.get(claim.type)
        self.ctx = Context(
            task_id, deployment, json.loads(claim.payload), claim.attempt, store, token
        )
        self.started = time.monotonic()

    def run(self) -> None:
        if self.task_type is None:
            exc = LookupError(f"task type {self.type_name!r} is not registered in this worker")
            self._finish("failed", reason="unknown_type", exc=exc, retryable=False)
            return
        try:
            names = self.task_type.secret_names(self.ctx.payload)
            values = task_secrets.read(names, self.store.settings.secrets_dir, os.environ)
        except SecretMissing as exc:
            self._finish("failed", reason="secret_missing", exc=exc, retryable=False)
            return
        except Exception as exc:  # a type's function naming its secrets failed
            self._finish("failed", reason="exception", exc=exc)
            return
        self.ctx.open_secrets(values)
        try:
            self._run_handler(self.task_type)
        finally:
            self.ctx.close_secrets()

    def _run_handler(self, task_type: registry.TaskType) -> None:
        thread, run = start_handler(task_type.handler, self.ctx)
        outcome = self._supervise(run)
        stop = {"lost": TaskStop, "timeout": TaskTimeout, "cancel": TaskCanceled}.get(outcome)
        if stop is not None:
            retire(thread)
            thread.interrupt(run, stop)
        if outcome == "lost":
            log.warning("task %s: lease lost; a newer attempt owns it", self.task_id)
            return
        faults.point("before_finish")
        if outcome == "timeout":
            self._finish(
                "failed",
                reason="timeout",
                exc=TaskTimeout(f"exceeded its timeout of {self.timeout_s}s"),
            )
        elif outcome == "cancel":
            self._finish("canceled", reason="canceled by request")
        elif isinstance(run.exc, StepMismatch):
            self._finish("failed", reason="step_mismatch", exc=run.exc, retryable=False)
        elif run.exc is not None:
            self._finish("failed", reason="exception", exc=run.exc)
        else:
            self._finish("completed", result=run.result)

    def _supervise(self, run: Run) -> str:
        """Waits for the handler, renewing the lease; says why the wait ended."""
        interval = self.store.settings.lease_s / 3
        deadline = self.started + self.timeout_s
        while True:
            if run.done.wait(max(0.0, min(interval, deadline - time.monotonic()))):
                return "done"
            if time.monotonic() >= deadline:
                return "timeout"
            try:
                beat = self.store.heartbeat(self.deployment, self.task_id, self.token)
            except redis.RedisError as exc:  # a blip: the lease outlives a few misses
                log.warning("task %s: heartbeat failed (%s); retrying", self.task_id, exc)
                continue
            if beat != "ok":
                return beat

    def _finish(
        self,
        outcome: str,
        *,
        result: Any = None,
        reason: str = "",
        exc: BaseException | None = None,
        retryable: bool = True,
    ) -> None:
        redact = self.ctx._redactor.value
        error = redact(error_info(reason, exc, self.started, self.ctx.attempt)) if exc else None
        result = redact(result)
        base = self.task_type.backoff if self.task_type and self.task_type.backoff else None
        delay = backoff_ms(base or self.store.settings.backoff_s, self.retry_count)
        reply = retry_redis(
            lambda: self.store.finish(
                self.task_id,
                self.deployment,
                self.token,
                outcome=outcome,
                result=result,
                error=error,
                reason=reason,
                backoff_ms=delay,
                retryable=retryable,
            )
        )
        log.info("task %s attempt %d: %s (%s)", self.task_id, self.ctx.attempt, outcome, reply.code)


# -- the RQ job function ------------------------------------------------------------

_STORE: TaskStore | None = None


def process_store() -> TaskStore:
    """One store per process, built from the environment on first use.

    Built before a fork it is inherited by RQ's work-horse; redis-py opens
    fresh connections in the child, so sockets are never shared.
    """
    global _STORE
    if _STORE is None:
        settings = Settings.from_env()
        loader.load(settings)
        _STORE = open_store(settings)
    return _STORE


def use_store(store: TaskStore) -> None:
    """Makes the worker's store the one its jobs use."""
    global _STORE
    _STORE = store


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_task(task_id: str, rq_job_key: str | None = None, worker: str | None = None) -> None:
    """RQ job function: its only argument is the task id.

    A jobsvc worker calls it itself (``workers.Dispatches``) with the RQ
    job's key, which the claim deletes (the task store holds the rest), and
    its own name, which the task records: a reconciler stops a stuck
    attempt through it.
    """
    store = process_store()
    claim = store.claim(task_id, worker or worker_name(), rq_job_key)
    if claim.code != "ok":
        log.info("task %s not claimed (%s); another dispatch has it", task_id, claim.code)
        return
    faults.point("after_claim")
    Attempt(store, task_id, claim).run()
