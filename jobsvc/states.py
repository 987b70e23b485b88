"""Task states, priorities and the transition table the Lua scripts enforce.

Each row of ``TRANSITIONS`` is carried out by exactly one script (named in
the table); ``tests/test_states.py`` drives every row against Redis.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"

    @property
    def ended(self) -> bool:
        return self in ENDED


ENDED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELED, Status.SKIPPED})


class Priority(str, Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Lower runs first; matches the rank table in ``scripts/_lib.lua``."""
        return _RANK[self]


_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}

# (from, to) -> the script that performs it.
TRANSITIONS: dict[tuple[Status, Status], str] = {
    (Status.QUEUED, Status.RUNNING): "claim",
    (Status.RUNNING, Status.COMPLETED): "finish",
    (Status.RUNNING, Status.FAILED): "finish",
    (Status.RUNNING, Status.CANCELED): "finish",
    # An attempt failed and retries remain: back to queued, still the lane's active task.
    (Status.RUNNING, Status.QUEUED): "finish",
    (Status.QUEUED, Status.CANCELED): "cancel",
    (Status.QUEUED, Status.SKIPPED): "skip",
    (Status.FAILED, Status.QUEUED): "requeue",
    (Status.CANCELED, Status.QUEUED): "requeue",
}


def allowed(src: Status, dst: Status) -> bool:
    return (src, dst) in TRANSITIONS
