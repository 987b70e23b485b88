"""Waiting on conditions with a deadline, never a fixed sleep; the CLI as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

# The repository's root: the CLI runs from there.
ROOT = Path(__file__).resolve().parent.parent

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


def jobsvc(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``jobsvc ARGS`` as a real process with the test's environment added; its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "jobsvc", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
