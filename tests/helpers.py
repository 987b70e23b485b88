"""Waiting on conditions with a deadline, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 20.0,
    what: str = "condition",
    interval: float = 0.02,
) -> T:
    """Polls until ``predicate()`` is truthy and returns it; fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_ended(svc, task_id: str, timeout: float = 20.0) -> dict:
    """The task's JSON once it has reached a terminal state."""
    return wait_until(
        lambda: (
            lambda t: t if t["status"] in ("completed", "failed", "canceled", "skipped") else None
        )(svc.store.get(task_id)),
        timeout,
        f"task {task_id} to end",
    )
