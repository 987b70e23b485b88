"""Counts client round trips: every packed write redis-py sends is one request.

A pipeline is one write however many commands it carries, so the count is
round trips, not commands (those come from the server's INFO commandstats).
"""

from __future__ import annotations

import atexit
import json
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
    """Writes this process's total to ``path`` when it exits normally."""
    atexit.register(lambda: path.write_text(json.dumps({"round_trips": _count})))
