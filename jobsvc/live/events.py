"""Live messages for viewers: a task's events and the dashboard's changes.

The one path a task's events take to any viewer: ``open_task`` checks the
task and the resume point before anything streams; then the entries after
``since`` are caught up from Redis up to the hub's join id, and the hub's
entries follow, until the task's terminal status.  SSE, the CLI and the
Python API iterate ``task_events``; a WebSocket viewer takes the same path
through ``follow_into``, where the hub writes rendered frames straight to
its socket.  The generators yield a message dict, or ``None`` when nothing
happened for a keep-alive interval (the endpoint then sends a keep-alive
and finds out whether the viewer is still there).
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import keys
from ..errors import InvalidInput, NotFound
from ..model import iso, render_summary
from ..states import ENDED, Status
from ..store import TaskStore
from ..store.streams import Entry, StreamReader
from .hub import Hub, Subscription, catch_up, id_after
from .sink import SocketSink

# Deployments per snapshot read.
SNAPSHOT_PAGE = 500
# Bytes of catch-up frames a WebSocket viewer is sent per blocking flush.
CATCH_UP_CHUNK = 64 * 1024


class ViewerTooSlow(Exception):
    """The viewer's buffer overflowed; it can reconnect with ``since`` = ``last_id``."""

    def __init__(self, last_id: str):
        super().__init__(f"viewer fell too far behind; resume with since={last_id}")
        self.last_id = last_id


@dataclass(frozen=True)
class TaskStream:
    """A task's live stream as checked before it starts."""

    task_id: str
    since: str
    # All there is to send when an ended task's stream needs no following (see
    # open_task), else None.
    final: list[dict[str, Any]] | None


def task_event(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """One stream entry as the contract's task event."""
    return {
        "id": entry_id,
        "type": fields["type"],
        "at": iso(fields["at"]),
        "data": json.loads(fields["data"]),
    }


def is_terminal(event: dict[str, Any]) -> bool:
    return event["type"] == "status" and event["data"].get("status") in ENDED


def _live(
    sub: Subscription, last: str, keepalive: float
) -> Iterator[tuple[str, dict[str, Any]] | None]:
    """Entries from the hub after ``last``; None on a quiet ``keepalive`` interval."""
    while True:
        try:
            entry = sub.entries.get(timeout=keepalive)
        except queue.Empty:
            if sub.overflowed:
                raise ViewerTooSlow(last) from None
            yield None
            continue
        if sub.overflowed:
            raise ViewerTooSlow(last)
        if id_after(entry[0], last):
            last = entry[0]
            yield entry


def _ended_without_stream(store: TaskStore, task_id: str, since: str) -> Iterator[dict[str, Any]]:
    """An ended task whose stream has expired: its final status, once, from history."""
    if since not in ("0", "0-0"):
        return
    task = store.get(task_id)
    final = task["history"][-1]
    data = {"status": final["status"], **({"reason": final["reason"]} if "reason" in final else {})}
    yield {"id": "0-1", "type": "status", "at": final["at"], "data": data}


def open_task(
    reader: StreamReader, store: TaskStore, task_id: str, since: str, field: str = "since"
) -> list[dict[str, Any]] | None:
    """Checks a viewer's resume point before its stream starts.

    Returns all there is to send when that is known now: for an ended task
    whose stream has expired, its final status; for an ended task resumed
    from its last event, nothing (the viewer had the end but not the
    close).  Else None, and ``task_events`` follows the stream.

    Refuses an unknown task (404) and a ``since`` after the last event the
    stream has had (400, naming ``field``): no viewer was ever sent such an
    id, and one waiting for the events after it would skip the task's end
    and wait forever.  Before a task's first event only the start is in range.
    """
    status, newest = reader.task_head(task_id)
    if status is None:
        raise NotFound(f"no task {task_id!r}", code="task_not_found")
    ended = Status(status).ended
    if not newest and ended:
        return list(_ended_without_stream(store, task_id, since))
    last = newest or "0-0"
    if id_after(since, last):
        raise InvalidInput(f"{field} {since} is after the task's last event ({last})", field=field)
    return [] if ended and since == last else None


def render_frames(entries: list[Entry], frame: Callable[[str], bytes]) -> tuple[bytes, bool]:
    """Entries as wire frames (``frame(text) -> bytes``), up to a terminal status event."""
    out = bytearray()
    for entry in entries:
        event = task_event(*entry)
        out += frame(json.dumps(event))
        if is_terminal(event):
            return bytes(out), True
    return bytes(out), False


def task_events(
    hub: Hub, reader: StreamReader, task_id: str, since: str, keepalive: float
) -> Iterator[dict[str, Any] | None]:
    """The task's events after ``since``, then live ones, until its terminal status.

    For a stream ``open_task`` has checked and found there.
    """
    for entry in follow(hub, reader, keys.events(task_id), since, keepalive):
        if entry is None:
            yield None
            continue
        event = task_event(*entry)
        yield event
        if is_terminal(event):
            return


def follow(
    hub: Hub, reader: StreamReader, key: str, since: str, keepalive: float
) -> Iterator[Entry | None]:
    """A stream's entries after ``since``: caught up from Redis, then live from the hub.

    A viewer that falls so far behind that its buffer overflows is not
    dropped: it lets go of its subscription and catches up from Redis again,
    from the last entry it got, at its own pace.
    """
    last = since if since not in ("0", "") else "0-0"
    while True:
        sub = hub.subscribe(key)
        try:
            for entry in catch_up(reader, key, last, sub.join_id):
                last = entry[0]
                yield entry
            for item in _live(sub, last, keepalive):
                if item is not None:
                    last = item[0]
                yield item
        except ViewerTooSlow:
            continue
        finally:
            hub.unsubscribe(sub)


def follow_into(
    hub: Hub,
    reader: StreamReader,
    task_id: str,
    since: str,
    out: SocketSink,
    still_there: Callable[[], bool],
    keepalive: float,
) -> bool:
    """The task's events after ``since`` written to a WebSocket viewer's sink.

    The viewer first catches up at its own pace; then it is attached to the
    hub, which writes every later event straight to its socket, rendered once
    for all viewers of the task.  Returns True once the stream ended or the
    sink overflowed or failed (``out`` says which), False if the viewer left.
    """
    key = keys.events(task_id)
    sub = hub.subscribe(key)
    try:
        last, ended = _catch_up_into(out, hub, reader, key, since, sub.join_id)
        if not out.drain():
            return False
        if not ended:
            hub.attach(sub, out, last)
            while not out.done.wait(keepalive):
                out.flush()
                if not still_there():
                    return False
        return True
    finally:
        hub.unsubscribe(sub)


def _catch_up_into(
    out: SocketSink, hub: Hub, reader: StreamReader, key: str, since: str, until: str
) -> tuple[str, bool]:
    """Writes the entries after ``since`` up to the join id, at the viewer's pace.

    Returns (last id sent, whether the stream ended).
    """
    assert hub.render is not None, "a hub that feeds sinks needs a render function"
    last, pending = since, 0
    for entry in catch_up(reader, key, since, until):
        data, ended = hub.render([entry])
        out.write(data)
        last, pending = entry[0], pending + len(data)
        if ended:
            return last, True
        if pending >= CATCH_UP_CHUNK:
            if not out.drain():
                break
            pending = 0
    return last, False


def _snapshot(store: TaskStore) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every deployment's summary, and per deployment the feed id it is current to."""
    summaries: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    cursor = None
    while True:
        names, cursor = store.deployments(cursor, SNAPSHOT_PAGE)
        last, page = store.summaries_at(names)
        summaries += page
        seen.update((name, last) for name in names)
        if cursor is None:
            return summaries, seen


def dashboard_events(
    hub: Hub, store: TaskStore, keepalive: float
) -> Iterator[dict[str, Any] | None]:
    """A snapshot of every deployment, then one message per lane change.

    A viewer whose buffer overflows gets a fresh snapshot rather than a gap.
    """
    while True:
        sub = hub.subscribe(keys.DASHBOARD)
        try:
            summaries, seen = _snapshot(store)
            yield {"type": "snapshot", "deployments": summaries}
            for entry in _live(sub, sub.join_id, keepalive):
                if entry is None:
                    yield None
                    continue
                entry_id, fields = entry
                name = fields["deployment"]
                if name in seen and not id_after(entry_id, seen[name]):
                    continue  # the snapshot already shows this change
                yield {"type": "deployment", "deployment": render_summary(fields["summary"])}
        except ViewerTooSlow:
            continue
        finally:
            hub.unsubscribe(sub)
