"""Fan-out of Redis streams to many viewers with one reader per web process.

One thread blocks on ``XREAD`` over the streams that have viewers and hands
each entry to every subscription of that stream, so the Redis connections
used for relaying do not grow with the number of viewers.  A subscription's
buffer is bounded: a viewer that falls too far behind is marked overflowed
(and its connection is closed with a reason; it can resume with ``since``)
instead of slowing the others down.

Joining without a gap: the hub gives each new subscription a *join id*,
the last entry it had read from that stream when the subscription was
added (under the same lock as delivery).  Everything after the join id
arrives through the buffer; everything up to it the viewer reads itself
(``catch_up``), at its own pace.

A lane's stream carries the events of all its tasks: a task viewer's
subscription names its task, and gets only that task's entries.

Hot path: a subscription may instead be *attached* to a sink (a WebSocket
viewer's socket).  Then the hub renders each round's entries of a task
once, with the ``render`` it was given, and writes the bytes to every
attached sink without blocking: no thread wakes up per viewer and line.
After a read that returned entries the hub waits ``COALESCE_S`` so one
round carries the lines of many streams.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import redis

from ..store.streams import Entry, StreamReader

log = logging.getLogger("jobsvc.hub")

# How long one XREAD blocks, in ms: also how long a new stream waits to be read.
BLOCK_MS = 100
# Entries buffered per subscription before the viewer counts as too slow.
BUFFER = 2000
# Entries one XREAD returns per stream at most.
READ_COUNT = 500
# Pause after a read that returned entries: batches lines, costs at most this much latency.
COALESCE_S = 0.01

# Renders entries of one stream as bytes for attached sinks; True if the stream ended.
Render = Callable[[list[Entry]], tuple[bytes, bool]]


class Sink(Protocol):
    def write(self, data: bytes, ended: bool) -> None:
        """Takes bytes without blocking (a slow viewer's backlog is its own problem)."""

    def stop(self) -> None:
        """Ends the viewer's wait: the process is shutting down."""


class HubClosed(Exception):
    """The process is shutting down: a viewer's stream ends now, without its end
    (a client reconnects to another process, or to this one restarted, and resumes)."""


def id_after(a: str, b: str) -> bool:
    """True if stream id ``a`` comes after ``b``."""
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    return (int(ams), int(aseq or 0)) > (int(bms), int(bseq or 0))


@dataclass(eq=False)
class Subscription:
    key: str
    # The task whose entries it wants (a lane's events stream); None: every entry.
    task: str | None = None
    entries: queue.Queue = field(default_factory=lambda: queue.Queue(BUFFER))
    ready: threading.Event = field(default_factory=threading.Event)
    join_id: str = "0-0"
    overflowed: bool = False
    sink: Sink | None = None
    # Set when the hub closes: the viewer's stream ends (HubClosed).
    closed: bool = False

    def close(self) -> None:
        """Wakes the viewer, wherever it waits, to find its stream closed."""
        self.closed = True
        self.ready.set()
        if self.sink is not None:
            self.sink.stop()
        with contextlib.suppress(queue.Full):  # a full buffer wakes its viewer anyway
            self.entries.put_nowait(None)

    def deliver(self, entry: Entry) -> None:
        if self.overflowed:
            return
        try:
            self.entries.put_nowait(entry)
        except queue.Full:
            self.overflowed = True


class Hub:
    """The per-process reader thread and its subscriptions."""

    def __init__(self, reader: StreamReader, render: Render | None = None):
        self.reader = reader
        self.render = render
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}
        self._positions: dict[str, str] = {}
        self._pending: list[Subscription] = []
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._closed = False

    def subscribe(self, key: str, task: str | None = None, timeout: float = 5.0) -> Subscription:
        sub = Subscription(key, task)
        with self._lock:
            if self._closed:
                raise HubClosed()
            self._pending.append(sub)
            self._ensure_running()
        if not sub.ready.wait(timeout):
            self.unsubscribe(sub)
            raise redis.TimeoutError("the stream reader did not take the subscription")
        if sub.closed:
            raise HubClosed()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._pending:
                self._pending.remove(sub)
            subs = self._subs.get(sub.key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.key]
                    self._positions.pop(sub.key, None)

    def attach(self, sub: Subscription, sink: Sink, last: str) -> None:
        """From now on the hub writes ``sub``'s entries after ``last`` straight to ``sink``.

        Entries buffered since the join are written first, under the
        delivery lock, so nothing is skipped, repeated or reordered.
        """
        assert self.render is not None, "a hub that attaches sinks needs a render function"
        with self._lock:
            if sub.closed:
                sink.stop()
                return
            pending = []
            while not sub.entries.empty():
                entry = sub.entries.get_nowait()
                if id_after(entry[0], last):
                    pending.append(entry)
            if pending:
                sink.write(*self.render(pending))
            sub.sink = sink

    def viewer_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())

    def stop(self) -> None:
        self._stopped.set()

    def close(self) -> None:
        """Stops reading and ends every viewer's stream now, and any later one at once.

        For a server that is shutting down: a stream waits for events
        indefinitely, and the server waited for it (up to its graceful
        timeout, 30 s for gunicorn) though its viewer might be long gone.
        """
        with self._lock:  # against ``attach``: a sink attached now is stopped too
            self._closed = True
            for sub in [sub for group in self._subs.values() for sub in group] + self._pending:
                sub.close()
        self._stopped.set()

    def _ensure_running(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="jobsvc-hub", daemon=True)
            self._thread.start()

    def _admit_pending(self) -> None:
        """Adds waiting subscriptions, each with its join id."""
        with self._lock:
            pending, self._pending = self._pending, []
        for sub in pending:
            if sub.key not in self._positions:
                last = self.reader.last_id(sub.key)
                with self._lock:
                    self._positions.setdefault(sub.key, last or "0-0")
            with self._lock:
                sub.join_id = self._positions[sub.key]
                self._subs.setdefault(sub.key, set()).add(sub)
            sub.ready.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._admit_pending()
                with self._lock:
                    streams = dict(self._positions)
                if not streams:
                    self._stopped.wait(BLOCK_MS / 1000)
                    continue
                reply = self.reader.read(streams, READ_COUNT, BLOCK_MS)
                for key, entries in reply or []:
                    self._deliver(key, entries)
                if reply:
                    self._stopped.wait(COALESCE_S)
            except redis.RedisError:
                log.exception("hub: reading streams failed; retrying")
                self._stopped.wait(1.0)

    def _deliver(self, key: str, entries: list[Entry]) -> None:
        with self._lock:
            if key not in self._positions:
                return
            self._positions[key] = entries[-1][0]
            by_task: dict[str | None, list[Entry]] = {None: entries}
            rendered: dict[str | None, tuple[bytes, bool]] = {}
            for sub in self._subs.get(key, ()):
                if sub.task not in by_task:
                    by_task[sub.task] = of_task(entries, sub.task)
                mine = by_task[sub.task]
                if not mine:
                    continue
                if sub.sink is None:
                    for entry in mine:
                        sub.deliver(entry)
                    continue
                if sub.task not in rendered:
                    rendered[sub.task] = self.render(mine)  # type: ignore[misc]
                sub.sink.write(*rendered[sub.task])


def of_task(entries: list[Entry], task: str | None) -> list[Entry]:
    """The entries of one task (all of them for None)."""
    if task is None:
        return entries
    return [entry for entry in entries if entry[1].get("task") == task]


def catch_up(
    reader: StreamReader,
    key: str,
    start: str,
    until: str,
    task: str | None = None,
    page: int = 500,
) -> Iterator[Entry]:
    """Entries from ``start`` (an XRANGE bound: ``-``, ``<id>`` or ``(<id>``) up to and
    including ``until``, of ``task`` only if given, read page by page."""
    while True:
        entries = reader.page(key, start, until, page)
        yield from of_task(entries, task)
        if len(entries) < page:
            return
        start = f"({entries[-1][0]}"
