"""Counts client round trips: every packed write redis-py sends is one request.

A pipeline is one write however many commands it carries, so the count is
round trips, not commands (those come from the server's INFO commandstats).
A forking worker's work-horses end with ``os._exit``, which runs no atexit
handler: each horse writes its own count to a file beside its parent's.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path

from redis.connection import AbstractConnection

_count = 0
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        global _count
        _count += 1
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    _installed = True


def count() -> int:
    return _count


def report_at_exit(path: Path) -> None:
    """Writes this process's total to ``path`` when it exits normally, and each
    forked child's to ``<path stem>.<pid>.json`` when it leaves by ``os._exit``."""
    atexit.register(lambda: path.write_text(json.dumps({"round_trips": _count})))
    os.register_at_fork(after_in_child=lambda: _count_child(path))


def _count_child(parent_path: Path) -> None:
    global _count
    _count = 0
    leave = os._exit

    def counted_exit(code: int) -> None:
        child_path = parent_path.with_name(f"{parent_path.stem}.{os.getpid()}.json")
        child_path.write_text(json.dumps({"round_trips": _count}))
        leave(code)

    os._exit = counted_exit  # type: ignore[assignment]


def files(path: Path) -> list[Path]:
    """The count files of a process written with ``report_at_exit(path)``: its own first."""
    return [path, *sorted(path.parent.glob(f"{path.stem}.*.json"))]
