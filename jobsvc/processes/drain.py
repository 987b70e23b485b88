"""Graceful drain: nothing new starts, running tasks end, lanes keep accepting.

``jobsvc drain`` sets one flag in Redis that promotion, claims and retry
dispatch all check inside their Lua scripts, so every worker and web process
on every machine obeys it at once.  ``jobsvc drain --resume`` lifts it and
hands every lane's waiting head back to RQ.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..store import TaskStore
from .reconcile import Report, reconcile_all

# How often a waiting drain counts the running tasks, in seconds.
POLL_S = 0.5


def start(store: TaskStore) -> None:
    store.set_draining(True)


def draining(store: TaskStore) -> bool:
    return store.draining()


def wait(store: TaskStore, timeout: float, report: Callable[[int], None]) -> list[str]:
    """Waits until no task runs or ``timeout`` passes; returns those still running."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        still = store.running_ids()
        if len(still) != last:
            report(len(still))
            last = len(still)
        if not still or time.monotonic() >= deadline:
            return still
        time.sleep(POLL_S)


def resume(store: TaskStore) -> Report:
    """Lifts the drain; tasks refused while it held are handed to RQ again at
    once.  The pass walks every busy lane, not only the reconciler's index:
    what a drain held back is in no one place."""
    store.set_draining(False)
    return reconcile_all(store, orphan_grace_s=0.0, every_lane=True)
