"""Finding a test's processes by what they carry, not by their names.

Every process a lifecycle test starts inherits ``JOBSVC_TEST_MARKER=<digits>``
in its environment (work-horses and worker pools included); the ``shell``
task's child gets a minimal environment, so it is found by the marker in its
command line instead (digits only: ``sleep 300.<marker>`` is a valid sleep).
The ``marker`` fixture (conftest) kills whatever a test leaves, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid

import psutil

from tests.helpers import wait_until

MARKER = "JOBSVC_TEST_MARKER"


def carrying(marker: str) -> list[psutil.Process]:
    """Live processes whose environment holds the marker or whose argv mentions it."""
    needle = f"{MARKER}={marker}"
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if any(marker in part for part in proc.info["cmdline"] or []):
                found.append(proc)
            elif proc.environ().get(MARKER) == marker or needle in (proc.info["cmdline"] or []):
                found.append(proc)
    return found


def describe(procs: list[psutil.Process]) -> str:
    lines = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            lines.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
    return "; ".join(lines)


def assert_none_left(marker: str, timeout: float = 15.0) -> None:
    """Every process of the test has ended within ``timeout``."""
    try:
        wait_until(lambda: not carrying(marker), timeout, "every marked process to end", 0.1)
    except AssertionError:
        raise AssertionError(f"still running: {describe(carrying(marker))}") from None


def new_marker() -> str:
    """18 digits of a random uuid: unique enough, and a valid fraction in ``sleep``'s argv."""
    return str(uuid.uuid4().int)[:18]


def kill_all(marker: str) -> None:
    for proc in carrying(marker):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
