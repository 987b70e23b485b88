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

A task's events are in its lane's stream (one stream per lane, each entry
naming its task): a viewer's read and its hub subscription name the task,
and start at the task's first event (its ``ev0``) or, before it has one,
after the stream's position when the viewer subscribed.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import keys
from ..errors import InvalidInput, NotFound
from ..model import iso
from ..states import ENDED, Status
from ..store import TaskStore
from ..store.streams import Entry, StreamReader
from .hub import Hub, HubClosed, Subscription, catch_up, id_after
from .sink import SocketSink

# Deployments per snapshot read.
SNAPSHOT_PAGE = 500
# Bytes of catch-up frames a WebSocket viewer is sent per blocking flush.
CATCH_UP_CHUNK = 64 * 1024
# Entries taken from a viewer's buffer at once, at most: for the dashboard, the
# entries whose lanes' summaries are read together.
CHANGES_BATCH = 500
# A live stream's start: resuming after it replays everything.
START = "0-0"


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
    # The stream that holds the task's events: its lane's.
    key: str
    # All there is to send when an ended task's stream needs no following (see
    # open_task), else None.
    final: list[dict[str, Any]] | None
    # The task's last event when the viewer came (its ``evN``): a terminal status
    # before it is an earlier attempt's end (the task was retried since), which a
    # replay reads past.
    last_event: str | None = None

    def ends_with(self, event: dict[str, Any]) -> bool:
        """Whether ``event`` ends this viewer's stream: a terminal status that is not
        followed by a later attempt's events."""
        return is_terminal(event) and not (
            self.last_event and id_after(self.last_event, event["id"])
        )


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
    for batch in _live_batches(sub, last, keepalive):
        if batch is None:
            yield None
        else:
            yield from batch


def _live_batches(sub: Subscription, last: str, keepalive: float) -> Iterator[list[Entry] | None]:
    """The hub's entries after ``last``, each time all those buffered (up to
    CHANGES_BATCH) as one list; None on a quiet ``keepalive`` interval."""
    while True:
        try:
            batch = [sub.entries.get(timeout=keepalive)]
        except queue.Empty:
            if sub.overflowed:
                raise ViewerTooSlow(last) from None
            yield None
            continue
        while len(batch) < CHANGES_BATCH:
            try:
                batch.append(sub.entries.get_nowait())
            except queue.Empty:
                break
        if sub.closed:
            raise HubClosed()
        if sub.overflowed:
            raise ViewerTooSlow(last)
        batch = [entry for entry in batch if id_after(entry[0], last)]
        if batch:
            last = batch[-1][0]
            yield batch


def _ended_without_stream(store: TaskStore, task_id: str, since: str) -> Iterator[dict[str, Any]]:
    """An ended task whose events have expired: its final status, once, from history."""
    if since not in ("0", "0-0"):
        return
    task = store.get(task_id)
    final = task["history"][-1]
    data = {"status": final["status"], **({"reason": final["reason"]} if "reason" in final else {})}
    yield {"id": "0-1", "type": "status", "at": final["at"], "data": data}


def open_task(
    reader: StreamReader, store: TaskStore, task_id: str, since: str, field: str = "since"
) -> TaskStream:
    """Checks a viewer's resume point before its stream starts.

    The stream's ``final`` is all there is to send when that is known now: for
    an ended task whose events have expired, its final status; for an ended
    task resumed from its last event, nothing (the viewer had the end but not
    the close).  Else None, and ``task_events`` follows the lane's stream.

    Refuses an unknown task (404) and a ``since`` after the task's last event
    (its ``evN``, 400 naming ``field``): no viewer was ever sent such an id,
    and one waiting for the events after it would skip the task's end and
    wait forever.  Before a task's first event only the start is in range.
    """
    status, deployment, last = reader.task_head(task_id)
    if status is None or deployment is None:
        raise NotFound(f"no task {task_id!r}", code="task_not_found")
    key = keys.lane_events(deployment)
    ended = Status(status).ended
    if ended and _events_gone(reader, key, last):
        return TaskStream(task_id, since, key, list(_ended_without_stream(store, task_id, since)))
    last = last or START
    if id_after(since, last):
        raise InvalidInput(f"{field} {since} is after the task's last event ({last})", field=field)
    return TaskStream(task_id, since, key, [] if ended and since == last else None, last)


def _events_gone(reader: StreamReader, key: str, last: str | None) -> bool:
    """True if an ended task's last event is no longer in its lane's stream (the
    stream expired, or was trimmed past it)."""
    first = reader.first_id(key) if last else None
    return last is None or first is None or id_after(first, last)


def start_bound(reader: StreamReader, task_id: str, last: str, join_id: str) -> str:
    """Where the read of a task's events in its lane's stream begins (an XRANGE
    bound): after ``last``; from the start, at the task's first event, or if
    it has none yet, after ``join_id`` (the stream's position when the
    viewer subscribed, read before this: every event of the task comes later).
    """
    if last not in (START, "0", ""):
        return f"({last}"
    return reader.first_event(task_id) or f"({join_id}"


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
    hub: Hub, reader: StreamReader, stream: TaskStream, keepalive: float
) -> Iterator[dict[str, Any] | None]:
    """The task's events after ``since``, then live ones, until its terminal status.

    For a stream ``open_task`` has checked (``stream.key`` is what it found).
    """
    for entry in follow(hub, reader, stream, keepalive):
        if entry is None:
            yield None
            continue
        event = task_event(*entry)
        yield event
        if stream.ends_with(event):
            return


def follow(
    hub: Hub, reader: StreamReader, stream: TaskStream, keepalive: float
) -> Iterator[Entry | None]:
    """A task's entries in its lane's stream after ``since``: caught up from Redis,
    then live from the hub.

    A viewer that falls so far behind that its buffer overflows is not
    dropped: it lets go of its subscription and catches up from Redis again,
    from the last entry it got, at its own pace.
    """
    last = stream.since if stream.since not in ("0", "") else START
    while True:
        sub = hub.subscribe(stream.key, stream.task_id)
        try:
            start = start_bound(reader, stream.task_id, last, sub.join_id)
            for entry in catch_up(reader, stream.key, start, sub.join_id, stream.task_id):
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
    stream: TaskStream,
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
    sub = hub.subscribe(stream.key, stream.task_id)
    try:
        last, ended = _catch_up_into(out, hub, reader, stream, sub.join_id)
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
    out: SocketSink, hub: Hub, reader: StreamReader, stream: TaskStream, until: str
) -> tuple[str, bool]:
    """Writes the task's entries after its ``since`` up to the join id, at the viewer's pace.

    Returns (last id sent, whether the stream ended).
    """
    assert hub.render is not None, "a hub that feeds sinks needs a render function"
    last, pending = stream.since, 0
    start = start_bound(reader, stream.task_id, stream.since, until)
    for entry in catch_up(reader, stream.key, start, until, stream.task_id):
        data, ended = hub.render([entry])
        out.write(data)
        last, pending = entry[0], pending + len(data)
        if ended and stream.ends_with(task_event(*entry)):
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
    """A snapshot of every deployment, then a message per lane change.

    A feed entry names the lane that changed; its summary is read when the
    entry arrives, for all the lanes of the entries the buffer holds at once,
    together with the feed's last id, so entries the summary already shows
    are skipped.  A viewer whose buffer overflows gets a fresh snapshot
    rather than a gap.
    """
    while True:
        sub = hub.subscribe(keys.DASHBOARD)
        try:
            summaries, seen = _snapshot(store)
            yield {"type": "snapshot", "deployments": summaries}
            for batch in _live_batches(sub, sub.join_id, keepalive):
                if batch is None:
                    yield None
                    continue
                yield from _changes(store, batch, seen)
        except ViewerTooSlow:
            continue
        finally:
            hub.unsubscribe(sub)


def _changes(
    store: TaskStore, entries: list[Entry], seen: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """One message per lane named by ``entries`` whose change ``seen`` does not show yet."""
    names: list[str] = []
    for entry_id, fields in entries:
        name = fields["deployment"]
        if (name not in seen or id_after(entry_id, seen[name])) and name not in names:
            names.append(name)
    if not names:
        return
    last, summaries = store.summaries_at(names)
    seen.update((name, last) for name in names)
    for summary in summaries:
        yield {"type": "deployment", "deployment": summary}
