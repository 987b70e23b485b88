"""`jobsvc up`'s lock in its data dir: one `up` per data dir, and what `down` needs.

The lock is an ``flock`` on ``<data dir>/up.lock``, taken in one step
(never check-then-write).  The kernel drops it when its process ends,
however it ends, so a lock left by a killed `up` is simply free: no pid to
test for life, none to mistake for a reused one.  The file holds the
holder's record (JSON): its pid and start time (so `down` signals that
process and no other that got its pid since), its URL, how long its stop
may take, and the processes it started, which a later `up` stops if a
killed `up` left them.  A clean stop empties the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError

LOCK_FILE = "up.lock"
# Bytes of a record, at most.
RECORD_MAX = 64 * 1024
# How long a reader retries a record the holder is rewriting, in seconds.
READ_RETRY_S = 1.0


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc), or None if it is gone.

    A pid is reused; a pid and its start time name one process.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


@dataclass
class Record:
    """What a running `up` tells a later `up` and `down` about itself."""

    pid: int
    started: str | None
    url: str
    stop_s: float
    # pid -> start time of each process it started (each leads a process group).
    children: dict[str, str | None] = field(default_factory=dict)

    def live_children(self) -> list[int]:
        pids = (int(pid) for pid in self.children)
        return [pid for pid in pids if start_time(pid) == self.children[str(pid)]]


def _parse(data: bytes) -> Record | None:
    try:
        return Record(**json.loads(data))
    except (ValueError, TypeError):
        return None


class UpLock:
    """The lock one `up` holds for its whole life."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> Record | None:
        """Takes the lock; returns the record a killed `up` left, if any.

        A live holder is a ConfigError in one line, naming its pid and URL.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record = _read(fd)
            os.close(fd)
            raise ConfigError(already_running(self.path.parent, record)) from None
        self.fd = fd
        return _parse(os.pread(fd, RECORD_MAX, 0))

    def write(self, record: Record) -> None:
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(asdict(record)).encode(), 0)

    def release(self) -> None:
        """Empties the record (a clean stop) and lets go of the lock."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None


def already_running(data_dir: Path, record: Record | None) -> str:
    who = f" (pid {record.pid}, {record.url})" if record else ""
    return (
        f"jobsvc up is already running for data dir {data_dir}{who}; "
        "stop it with `jobsvc down` or use another JOBSVC_DATA_DIR"
    )


def _read(fd: int) -> Record | None:
    """The holder's record, read again while it is being rewritten."""
    deadline = time.monotonic() + READ_RETRY_S
    while (record := _parse(os.pread(fd, RECORD_MAX, 0))) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return record


def holder(data_dir: Path) -> Record | None:
    """The record of the `up` that holds the lock of ``data_dir``, or None if none does."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or Record(0, None, "starting", 0.0)
        return None
    finally:
        os.close(fd)


def stop_leftovers(record: Record, timeout_s: float) -> tuple[int, int]:
    """Waits for the processes a killed `up` started to end, and kills those left at
    the deadline; returns how many were still running, and how many it killed.

    They got SIGTERM when their `up` ended (``lifetime``) and stop by
    themselves; Redis above all must be gone before a new one opens its files.
    """
    running = len(record.live_children())
    deadline = time.monotonic() + timeout_s
    while record.live_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    killed = record.live_children()
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return running, len(killed)
