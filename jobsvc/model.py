"""The contract's Task JSON, built from what the store keeps in Redis.

Redis holds only fields that have a value, times as integer microseconds of
Redis' clock; this module is the one place that turns them into the
contract's shape (camelCase, ISO-8601 UTC with ``Z``, nulls filled in).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .settings import DEFAULT_POOL
from .states import ENDED

TIME_FIELDS = ("createdAt", "startedAt", "completedAt", "lastOutputAt", "cooldownUntil")
JSON_FIELDS = ("payload", "metadata", "progress", "result", "error")
INT_FIELDS = ("retryCount", "maxRetries", "timeoutS", "cooldownS")


def iso(us: str | int | None) -> str | None:
    """Microseconds since the epoch -> ``2026-11-25T10:00:00.123456Z``."""
    if us is None or us == "":
        return None
    dt = datetime.fromtimestamp(int(us) / 1_000_000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(raw: str | None) -> Any:
    return None if raw is None else json.loads(raw)


def history_entry(status: str, at_us: str, reason: str = "") -> str:
    """A history entry as the store keeps it (``_lib.lua``'s ``history_entry``)."""
    return f"{status} {at_us} {reason}" if reason else f"{status} {at_us}"


def render_history(entries: list[str]) -> list[dict[str, Any]]:
    """``<status> <at in µs>[ <reason>]`` entries as the contract's ``{status, at, reason?}``."""
    out = []
    for raw in entries:
        status, at, *reason = raw.split(" ", 2)
        entry = {"status": status, "at": iso(at)}
        if reason:
            entry["reason"] = reason[0]
        out.append(entry)
    return out


def waiting_on(depends_on: list[str], raw: str | None) -> list[str]:
    """The dependencies not yet completed (a set in Redis), in ``dependsOn``'s order."""
    waiting = set(_json(raw) or ())
    return [dep for dep in depends_on if dep in waiting]


def render_step(raw: str, task_status: str) -> dict[str, Any]:
    """One stored step record as the contract's step (times ISO).

    A step recorded ``running`` whose task no longer runs was interrupted (its
    attempt was lost, timed out or canceled): it reads ``pending`` while the
    task waits to run again, since the next attempt runs it again, and
    ``failed`` once the task has ended.
    """
    step: dict[str, Any] = json.loads(raw)
    if step["status"] == "running" and task_status != "running":
        step["status"] = "failed" if task_status in ENDED else "pending"
    step["startedAt"] = iso(step["startedAt"])
    step["completedAt"] = iso(step["completedAt"])
    return step


def render_task(
    h: dict[str, str],
    history: list[str],
    position: int,
    truncated: list[str] | tuple[str, ...] = (),
    steps: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """One task as the contract's Task JSON.

    A listing leaves out large fields (``truncated`` names them, history
    included when only its last entries were read): they come as null, and
    the task says what was cut in one more field, ``truncated``.
    """
    task: dict[str, Any] = {
        "id": h["id"],
        "deployment": h["deployment"],
        "type": h["type"],
        "status": h["status"],
        "priority": h["priority"],
        "payload": _json(h.get("payload")) or {},
        "metadata": _json(h.get("metadata")) or {},
        "dedupeKey": h.get("dedupeKey"),
        "position": position if position >= 0 else None,
    }
    for name in INT_FIELDS:
        task[name] = int(h.get(name, 0))
    for name in TIME_FIELDS:
        task[name] = iso(h.get(name))
    task["progress"] = _json(h.get("progress"))
    task["result"] = _json(h.get("result"))
    task["error"] = _json(h.get("error"))
    task["history"] = render_history(history)
    task["pool"] = h.get("pool") or DEFAULT_POOL
    task["dependsOn"] = _json(h.get("dependsOn")) or []
    task["waitingOn"] = waiting_on(task["dependsOn"], h.get("waitingOn"))
    task["steps"] = None if "steps" in truncated else [render_step(s, h["status"]) for s in steps]
    for name in truncated:
        if name in JSON_FIELDS:
            task[name] = None
    if truncated:
        task["truncated"] = sorted(truncated)
    return task


def render_summary(raw: str) -> dict[str, Any]:
    """A deployment summary S from summaries.lua / the dashboard feed."""
    s: dict[str, Any] = json.loads(raw)
    if s.get("lastTask"):
        s["lastTask"]["completedAt"] = iso(s["lastTask"].get("completedAt"))
    return s


@dataclass(frozen=True)
class Task:
    """A task as the Python API hands it out: attribute access over the JSON.

    ``deduplicated`` is true when a submit returned an earlier task holding
    the same dedupe identity instead of queueing a new one (HTTP's 200).
    """

    data: dict[str, Any]
    deduplicated: bool = False

    def __getattr__(self, name: str) -> Any:
        camel = "".join(p if i == 0 else p.title() for i, p in enumerate(name.split("_")))
        try:
            return self.data[camel]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def ended(self) -> bool:
        return self.data["status"] in ENDED
