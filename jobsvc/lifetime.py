"""Processes that must not outlive the process that started them.

A process in a session or process group of its own (RQ's work-horse calls
``setpgrp``; the ``shell`` task's child and `jobsvc up`'s children start new
sessions) is out of reach of a signal to its parent's group: a supervisor
that SIGKILLs the group of a worker (honcho, systemd's ``KillMode=mixed``)
left the work-horse running under PID 1, holding the supervisor's output
pipe, so honcho never saw the worker end.  Linux's ``PR_SET_PDEATHSIG``
has the kernel signal such a process when the thread that forked it ends,
whatever ends it, SIGKILL included.  Elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
from collections.abc import Callable
from typing import Any

# prctl(2) option: the signal the kernel sends this process when its parent thread ends.
PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Any:
    """libc's prctl, or None off Linux; looked up once, before any fork that uses it."""
    return getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


def die_with_parent(signum: int, parent: int) -> None:
    """Has the kernel send ``signum`` to this process when ``parent`` ends.

    ``parent`` is the pid of the process that forked this one: if it had
    already ended before the request was made (the window right after the
    fork), nothing would ever be sent, so the signal is sent now instead.
    """
    prctl = _prctl()
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)


def child_dies_with_me(signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``signum`` when the
    calling thread ends (SIGTERM lets it stop cleanly, SIGKILL stops it at once).

    It runs between fork and exec; it only calls prctl, looked up here, before the fork.
    """
    _prctl()
    return functools.partial(die_with_parent, signum, os.getpid())
