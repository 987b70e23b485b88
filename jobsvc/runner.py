"""Runs one attempt of a task inside an RQ job.

``run_task(task_id)`` is the RQ job function.  It claims the task (which
grants the attempt its fencing token and lease), runs the handler in a
thread of its own, and from the calling thread -- the process that runs the
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
import json
import logging
import os
import random
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import redis

from . import faults, registry
from .connection import client, resolve_url
from .settings import LOG_LINE_MAX_BYTES, Settings
from .store import TaskStore

log = logging.getLogger("jobsvc.runner")

# Seconds a stopped handler gets to clean up before the attempt ends anyway.
STOP_GRACE_S = 2.0
# How long an attempt keeps trying to record its end through a Redis outage.
# Past it the attempt is given up: its lease expires and it is run again.
FINISH_RETRY_S = 120.0
# Largest retry backoff, in seconds, however many attempts came before.
MAX_BACKOFF_S = 300.0


class TaskStop(BaseException):
    """Raised into a handler asked to stop; BaseException so ``except Exception`` lets it by."""


class TaskCanceled(TaskStop):
    pass


class TaskTimeout(TaskStop):
    pass


def cap_line(line: str, limit: int = LOG_LINE_MAX_BYTES) -> str:
    """The line, or its first ``limit`` bytes (UTF-8) and a marker saying it was cut.

    One huge line would otherwise pass the log's cap (checked before each
    append) by its whole size and travel whole to every live viewer.
    """
    if len(line) * 4 <= limit:  # cannot be over: no character takes more than 4 bytes
        return line
    data = line.encode("utf-8", "replace")
    if len(data) <= limit:
        return line
    return data[:limit].decode("utf-8", "ignore") + f"… [line truncated at {limit} bytes]"


@dataclass
class Context:
    """What a handler gets besides its payload."""

    task_id: str
    deployment: str
    payload: dict
    attempt: int
    _store: TaskStore
    _token: str
    stopping: threading.Event = field(default_factory=threading.Event)
    _on_stop: list = field(default_factory=list)

    def log(self, *lines: str) -> None:
        """Appends output lines; each reaches the task's log and its live viewers, capped."""
        text = [cap_line(str(line).rstrip("\n")) for line in lines]
        if text and not self._store.output(self.task_id, self._token, "log", text):
            self.stopping.set()

    def progress(self, percent: float, message: str = "") -> None:
        if not 0 <= percent <= 100:
            raise ValueError("percent must be between 0 and 100")
        data = json.dumps({"percent": percent, "message": message})
        self._store.output(self.task_id, self._token, "progress", [data])

    def heartbeat(self) -> None:
        """Proof of progress without output: keeps a quiet task from counting as stalled."""
        self._store.output(self.task_id, self._token, "beat", ["{}"])

    def step(self, name: str, **data: Any) -> None:
        """Marks the start of a named step of a multi-step task."""
        self._store.output(self.task_id, self._token, "step", [json.dumps({"name": name, **data})])

    def sleep(self, seconds: float) -> None:
        """Sleeps, but wakes at once when the attempt is asked to stop."""
        if self.stopping.wait(seconds):
            raise TaskStop("the attempt was asked to stop")

    def on_stop(self, callback: Any) -> None:
        """Registers a callable run when the attempt is asked to stop (e.g. kill a child)."""
        self._on_stop.append(callback)


def backoff_ms(base_s: float, retry_count: int) -> int:
    """Exponential backoff with full jitter: uniform in [base, base * 2**retries]."""
    ceiling = min(MAX_BACKOFF_S, base_s * (2**retry_count))
    return int(random.uniform(base_s, max(base_s, ceiling)) * 1000)


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


class HandlerThread(threading.Thread):
    """Runs the handler and keeps what it returned or raised."""

    def __init__(self, handler: Any, ctx: Context):
        super().__init__(name=f"task-{ctx.task_id}", daemon=True)
        self.handler, self.ctx = handler, ctx
        self.result: Any = None
        self.exc: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.handler(self.ctx, self.ctx.payload)
            json.dumps(self.result)
        except BaseException as exc:  # noqa: BLE001  (everything is reported)
            self.exc = exc

    def interrupt(self, exc_type: type[BaseException]) -> None:
        """Asks the handler to stop: event, callbacks, then an exception raised into it."""
        self.ctx.stopping.set()
        for callback in self.ctx._on_stop:
            try:
                callback()
            except Exception:  # noqa: BLE001
                log.exception("stop callback of task %s failed", self.ctx.task_id)
        if self.ident is not None and self.is_alive():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.ident), ctypes.py_object(exc_type))
        self.join(STOP_GRACE_S)


class Attempt:
    """One claimed attempt: supervise the handler, then finish."""

    def __init__(self, store: TaskStore, task_id: str, claim: list[str]):
        token, attempt, type_name, payload, timeout_s, retry_count, deployment = claim
        self.store, self.task_id, self.deployment, self.token = store, task_id, deployment, token
        self.retry_count = int(retry_count)
        self.type_name = type_name
        self.timeout_s = int(timeout_s)
        self.task_type = registry.get(type_name)
        self.ctx = Context(task_id, deployment, json.loads(payload), int(attempt), store, token)
        self.started = time.monotonic()

    def run(self) -> None:
        if self.task_type is None:
            exc = LookupError(f"task type {self.type_name!r} is not registered in this worker")
            self._finish("failed", reason="unknown_type", exc=exc, retryable=False)
            return
        thread = HandlerThread(self.task_type.handler, self.ctx)
        thread.start()
        outcome = self._supervise(thread)
        if outcome == "lost":
            log.warning("task %s: lease lost; a newer attempt owns it", self.task_id)
            thread.interrupt(TaskStop)
            return
        faults.point("before_finish")
        if outcome == "timeout":
            thread.interrupt(TaskTimeout)
            self._finish("failed", reason="timeout",
                         exc=TaskTimeout(f"exceeded its timeout of {self.timeout_s}s"))
        elif outcome == "cancel":
            thread.interrupt(TaskCanceled)
            self._finish("canceled", reason="canceled by request")
        elif thread.exc is not None:
            self._finish("failed", reason="exception", exc=thread.exc)
        else:
            self._finish("completed", result=thread.result)

    def _supervise(self, thread: HandlerThread) -> str:
        """Waits for the handler, renewing the lease; says why the wait ended."""
        interval = self.store.settings.lease_s / 3
        deadline = self.started + self.timeout_s
        while True:
            thread.join(max(0.0, min(interval, deadline - time.monotonic())))
            if not thread.is_alive():
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

    def _finish(self, outcome: str, *, result: Any = None, reason: str = "",
                exc: BaseException | None = None, retryable: bool = True) -> None:
        error = error_info(reason, exc, self.started, self.ctx.attempt) if exc else None
        base = self.task_type.backoff if self.task_type and self.task_type.backoff else None
        delay = backoff_ms(base or self.store.settings.backoff_s, self.retry_count)
        reply = retry_redis(lambda: self.store.finish(
            self.task_id, self.deployment, self.token, outcome=outcome, result=result,
            error=error, reason=reason, backoff_ms=delay, retryable=retryable))
        log.info("task %s attempt %d: %s (%s)", self.task_id, self.ctx.attempt, outcome,
                 reply.code)


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
        registry.load(settings)
        url = resolve_url(settings)
        _STORE = TaskStore(client(url), client(url, decode=False), settings)
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
    Attempt(store, task_id, claim.values).run()
