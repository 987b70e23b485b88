"""Task states, priorities and the transition table the Lua scripts enforce.

Each row of ``TRANSITIONS`` names the scripts that carry it out;
``tests/test_states.py`` drives the rows against Redis.  The scripts keep a
mirror of ``ENDED`` and of the priority ranks (``scripts/_lib.lua``), which
``tests/test_states.py`` checks against this module, as ``test_keys`` does
for the keys.
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


# The terminal states: a task in one of them never moves again except by requeue.
# Members compare equal to their values, so ``"failed" in ENDED`` holds.
ENDED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELED, Status.SKIPPED})


class Priority(str, Enum):
    """In the order lanes and RQ queues serve them, highest first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Lower runs first: the position above (``RANK`` in ``scripts/_lib.lua``)."""
        return _RANK[self]


_RANK = {p: i for i, p in enumerate(Priority)}
# The priority names, highest first.
PRIORITIES = tuple(p.value for p in Priority)

# (from, to) -> the scripts that perform it.
TRANSITIONS: dict[tuple[Status, Status], tuple[str, ...]] = {
    (Status.QUEUED, Status.RUNNING): ("claim",),
    (Status.RUNNING, Status.COMPLETED): ("finish",),
    # An attempt ends in failure (finish), or is lost, stalled or overdue (reap).
    (Status.RUNNING, Status.FAILED): ("finish", "reap"),
    # Acknowledged by the attempt (finish), or at once when its lease is gone (cancel).
    (Status.RUNNING, Status.CANCELED): ("finish", "cancel"),
    # An attempt failed or was lost and retries remain: back to queued, still active.
    (Status.RUNNING, Status.QUEUED): ("finish", "reap"),
    (Status.QUEUED, Status.CANCELED): ("cancel",),
    (Status.QUEUED, Status.SKIPPED): ("skip",),
    (Status.FAILED, Status.QUEUED): ("requeue",),
    (Status.CANCELED, Status.QUEUED): ("requeue",),
}


def allowed(src: Status, dst: Status) -> bool:
    return (src, dst) in TRANSITIONS
