"""Live messages for viewers: a task's events and the dashboard's changes.

Both WebSocket and SSE endpoints iterate these generators, so the two carry
the same messages.  A generator yields a message dict, or ``None`` when
nothing happened for ``KEEPALIVE_S`` (the endpoint then sends a keep-alive
and finds out whether the viewer is still there).  A task's generator ends
after the task's terminal status event.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from redis import Redis

from . import keys
from .errors import InvalidInput, NotFound
from .hub import Entry, Hub, Subscription, catch_up, id_after
from .model import iso
from .states import ENDED, Status
from .store import TaskStore

# Seconds without a message before a keep-alive.
KEEPALIVE_S = 15.0
# Deployments per snapshot read.
SNAPSHOT_PAGE = 500
# Entries taken from a viewer's buffer at once, at most: for the dashboard, the
# entries whose lanes' summaries are read together.
CHANGES_BATCH = 500
TERMINAL = {s.value for s in ENDED}
# A live stream's start: resuming after it replays everything.
START = "0-0"


class ViewerTooSlow(Exception):
    """The viewer's buffer overflowed; it can reconnect with ``since`` = ``last_id``."""

    def __init__(self, last_id: str):
        super().__init__(f"viewer fell too far behind; resume with since={last_id}")
        self.last_id = last_id


def task_event(entry_id: str, fields: dict[str, str]) -> dict:
    """One stream entry as the contract's task event."""
    return {"id": entry_id, "type": fields["type"], "at": iso(fields["at"]),
            "data": json.loads(fields["data"])}


def is_terminal(event: dict) -> bool:
    return event["type"] == "status" and event["data"].get("status") in TERMINAL


def _live(sub: Subscription, last: str, keepalive: float) -> Iterator[tuple[str, dict] | None]:
    """Entries from the hub after ``last``; None on a quiet ``keepalive`` interval."""
    for batch in _live_batches(sub, last, keepalive):
        if batch is None:
            yield None
        else:
            yield from batch


def _live_batches(sub: Subscription, last: str, keepalive: float
                  ) -> Iterator[list[tuple[str, dict]] | None]:
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
        if sub.overflowed:
            raise ViewerTooSlow(last)
        batch = [entry for entry in batch if id_after(entry[0], last)]
        if batch:
            last = batch[-1][0]
            yield batch


def _ended_without_stream(store: TaskStore, task_id: str, since: str) -> Iterator[dict]:
    """An ended task whose events have expired: its final status, once, from history."""
    if since not in ("0", "0-0"):
        return
    task = store.get(task_id)
    final = task["history"][-1]
    data = {"status": final["status"], **({"reason": final["reason"]} if "reason" in final
                                          else {})}
    yield {"id": "0-1", "type": "status", "at": final["at"], "data": data}


@dataclass(frozen=True)
class Opened:
    """A task's live stream as checked before it starts."""

    # The stream holding its events: its lane's.
    key: str
    # All there is to send when that is known now (see open_task), else None.
    final: list[dict] | None


def open_task(client: Redis, store: TaskStore, task_id: str, since: str, field: str = "since"
              ) -> Opened:
    """Checks a viewer's resume point before its stream starts.

    ``final`` is all there is to send when that is known now: for an ended
    task whose events have expired, its final status; for an ended task
    resumed from its last event, nothing (the viewer had the end but not the
    close).  Else None, and ``task_events`` follows the stream.

    Refuses an unknown task (404) and a ``since`` after the task's last event
    (its ``evN``, 400 naming ``field``): no viewer was ever sent such an id,
    and one waiting for the events after it would skip the task's end and
    wait forever.  Before a task's first event only the start is in range.
    """
    status, deployment, last = cast("list[str | None]", client.hmget(
        keys.task(task_id), "status", "deployment", "evN"))
    if status is None or deployment is None:
        raise NotFound(f"no task {task_id!r}", code="task_not_found")
    key = keys.lane_events(deployment)
    ended = Status(status).ended
    if ended and _events_gone(client, key, last):
        return Opened(key, list(_ended_without_stream(store, task_id, since)))
    last = last or START
    if id_after(since, last):
        raise InvalidInput(f"{field} {since} is after the task's last event ({last})",
                           field=field)
    return Opened(key, [] if ended and since == last else None)


def _events_gone(client: Redis, key: str, last: str | None) -> bool:
    """True if an ended task's last event is no longer in its lane's stream (the
    stream expired, or was trimmed past it)."""
    first = client.xrange(key, count=1) if last else None
    return not first or id_after(first[0][0], last)  # type: ignore[arg-type]


def start_bound(client: Redis, task_id: str, last: str, join_id: str) -> str:
    """Where the read of a task's events in its lane's stream begins (an XRANGE
    bound): after ``last``; from the start, at the task's first event, or if
    it has none yet, after ``join_id`` (the stream's position when the
    viewer subscribed, read before this: every event of the task comes later).
    """
    if last != START:
        return f"({last}"
    first = cast("str | None", client.hget(keys.task(task_id), "ev0"))
    return first or f"({join_id}"


def render_frames(entries: list, frame: Any) -> tuple[bytes, bool]:
    """Entries as wire frames (``frame(text) -> bytes``), up to a terminal status event."""
    out = bytearray()
    for entry in entries:
        event = task_event(*entry)
        out += frame(json.dumps(event))
        if is_terminal(event):
            return bytes(out), True
    return bytes(out), False


def task_events(hub: Hub, client: Redis, task_id: str, key: str, since: str = START,
                keepalive: float = KEEPALIVE_S) -> Iterator[dict | None]:
    """The task's events after ``since``, then live ones, until its terminal status.

    For a stream ``open_task`` has checked (``key`` is what it found).
    """
    for entry in follow(hub, client, key, task_id, since, keepalive):
        if entry is None:
            yield None
            continue
        event = task_event(*entry)
        yield event
        if is_terminal(event):
            return


def follow(hub: Hub, client: Redis, key: str, task_id: str, since: str, keepalive: float
           ) -> Iterator[tuple[str, dict] | None]:
    """A task's entries in its lane's stream after ``since``: caught up from Redis,
    then live from the hub.

    A viewer that falls so far behind that its buffer overflows is not
    dropped: it lets go of its subscription and catches up from Redis again,
    from the last entry it got, at its own pace.
    """
    last = since if since not in ("0", "") else START
    while True:
        sub = hub.subscribe(key, task_id)
        try:
            start = start_bound(client, task_id, last, sub.join_id)
            for entry in catch_up(client, key, start, sub.join_id, task_id):
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


def _snapshot(store: TaskStore) -> tuple[list[dict], dict[str, str]]:
    """Every deployment's summary, and per deployment the feed id it is current to."""
    summaries: list[dict] = []
    seen: dict[str, str] = {}
    cursor = None
    while True:
        names, cursor = store.deployments(cursor, SNAPSHOT_PAGE)
        last, page = store.summaries_at(names)
        summaries += page
        seen.update((name, last) for name in names)
        if cursor is None:
            return summaries, seen


def dashboard_events(hub: Hub, store: TaskStore, keepalive: float = KEEPALIVE_S
                     ) -> Iterator[dict | None]:
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


def _changes(store: TaskStore, entries: list[tuple[str, dict]], seen: dict[str, str]
             ) -> Iterator[dict]:
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



def follow_task(client: Redis, store: TaskStore, task_id: str, since: str = "0",
                block_ms: int = 1000) -> Iterator[dict]:
    """A task's events for a script (no hub): its own blocking XREAD until the end.

    This holds one Redis connection while it runs; the web endpoints use the
    hub instead, so their connections do not grow with the viewers.
    """
    since = since if since not in ("0", "") else START
    opened = open_task(client, store, task_id, since)
    if opened.final is not None:
        yield from opened.final
        return
    with client.pipeline(transaction=True) as pipe:  # the stream's end and ev0 at one moment
        pipe.xrevrange(opened.key, count=1)
        pipe.hget(keys.task(task_id), "ev0")
        newest, first = pipe.execute()
    cursor = newest[0][0] if newest else START
    start = f"({since}" if since != START else first
    entries = catch_up(client, opened.key, start, cursor, task_id) if start and newest else ()
    yield from _until_end(client, store, opened.key, task_id, since, cursor, entries, block_ms)


def _until_end(client: Redis, store: TaskStore, key: str, task_id: str, since: str,
               cursor: str, caught_up: Iterable[tuple[str, dict]], block_ms: int
               ) -> Iterator[dict]:
    """The task's events: those caught up, then what XREAD brings after ``cursor``."""
    sent = False
    for entry in caught_up:
        event = task_event(*entry)
        yield event
        sent = True
        if is_terminal(event):
            return
    while True:
        reply = cast("list[tuple[str, list[Entry]]]",
                     client.xread({key: cursor}, count=500, block=block_ms))
        entries = [entry for _, page in reply or [] for entry in page]
        if not entries and Status(client.hget(keys.task(task_id), "status")).ended:
            # Ended, and its end not read: written just now, or expired or trimmed.
            entries = list(catch_up(client, key, f"({cursor}", "+", task_id))
            if not any(is_terminal(task_event(*entry)) for entry in entries):
                if not sent:
                    yield from _ended_without_stream(store, task_id, since)
                return
        for entry in entries:
            cursor = entry[0]
            if entry[1].get("task") != task_id:
                continue
            event = task_event(*entry)
            yield event
            sent = True
            if is_terminal(event):
                return
