"""What the Lua scripts answer, turned into typed values once, here.

Every script replies ``{code, values..., '@dispatch', id, pool, priority,
timeoutS, ...}`` (see each script's header).  ``parse_reply`` splits that;
the store then hands its callers a ``Submitted``, a ``Claim`` or an
``Outcome``, never a list to index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class Dispatch(NamedTuple):
    """A task a script promoted, as RQ needs it."""

    task_id: str
    pool: str
    priority: str
    timeout_s: int


@dataclass(frozen=True)
class Reply:
    """A script's answer: a code, its values, and the tasks to hand to RQ."""

    code: str
    values: list[str]
    dispatch: list[Dispatch]


class Submitted(NamedTuple):
    """submit.lua: ``created`` (the new task's id, createdAt, lane position
    (-1: skipped at once, a dependency had failed) and the JSON list of the
    dependencies it waits on, '' if none), ``deduplicated`` (the id of the task
    holding the identity), ``id_taken``, ``lane_unreadable``, or a refused
    ``dependsOn`` (``unknown_dependency``, ``dependency_deadlock``: the id)."""

    code: str
    task_id: str = ""
    created_at: str = ""
    position: str = ""
    waiting_on: str = ""

    @classmethod
    def of(cls, reply: Reply) -> Submitted:
        return cls(reply.code, *reply.values)


class Claim(NamedTuple):
    """claim.lua: ``ok`` and the attempt it starts, or why not (``missing``,
    ``not_active``, ``not_queued``, ``not_due``, ``draining``)."""

    code: str
    token: str = ""
    # Counts every start of the task, manual retries included.
    attempt: int = 0
    type: str = ""
    payload: str = "{}"
    timeout_s: int = 0
    retry_count: int = 0
    deployment: str = ""

    @classmethod
    def of(cls, reply: Reply) -> Claim:
        if reply.code != "ok":
            return cls(reply.code)
        token, attempt, type_, payload, timeout_s, retry_count, deployment = reply.values
        return cls(
            reply.code,
            token,
            int(attempt),
            type_,
            payload,
            int(timeout_s),
            int(retry_count),
            deployment,
        )


class Outcome(NamedTuple):
    """Any other transition: its code; the task's status where the script names it
    (``ended``, ``invalid``); the due time of a retry (``retry``, µs); and how many
    tasks it handed to RQ."""

    code: str
    status: str | None = None
    due_at: int | None = None
    dispatched: int = 0

    @classmethod
    def of(cls, reply: Reply) -> Outcome:
        value = reply.values[0] if reply.values else None
        if reply.code == "retry" and value is not None:
            return cls(reply.code, due_at=int(value), dispatched=len(reply.dispatch))
        return cls(reply.code, status=value, dispatched=len(reply.dispatch))


def parse_reply(raw: list[Any]) -> Reply:
    """Splits ``{code, values..., '@dispatch', id, pool, priority, timeoutS, ...}``."""
    items = [_text(x) for x in raw]
    code, rest = items[0], items[1:]
    if "@dispatch" in rest:
        cut = rest.index("@dispatch")
        rest, tail = rest[:cut], rest[cut + 1 :]
    else:
        tail = []
    return Reply(code, rest, dispatch_list(tail))


def dispatch_list(flat: list[Any]) -> list[Dispatch]:
    """Groups a flat ``id, pool, priority, timeoutS, ...`` list into tuples."""
    flat = [_text(x) for x in flat]
    return [
        Dispatch(flat[i], flat[i + 1], flat[i + 2], int(flat[i + 3]))
        for i in range(0, len(flat), 4)
    ]


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, int):
        return str(value)
    return value
