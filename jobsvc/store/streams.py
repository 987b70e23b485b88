"""The store's reads of Redis streams, for live viewers.

A process's hub blocks on one ``StreamReader`` (one connection, no socket
timeout) and its viewers catch up through another (a small pool): see
``live.relay``.  Stream ids and fields come back as ``str``.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.typing import KeyT, StreamIdT

from .. import keys
from ..connection import client
from .text import maybe_text, text

# One stream entry: (id, fields).
Entry = tuple[str, dict[str, str]]


class StreamReader:
    def __init__(self, redis_client: Redis):
        self.client = redis_client

    def last_id(self, key: str) -> str | None:
        """The id of the stream's newest entry, None for an empty or missing stream."""
        newest = self.client.xrevrange(key, count=1)
        return _entries(newest)[0][0] if newest else None

    def read(
        self, positions: dict[str, str], count: int, block_ms: int
    ) -> list[tuple[str, list[Entry]]]:
        """Entries after each stream's position, blocking up to ``block_ms`` for the first."""
        streams: dict[KeyT, StreamIdT] = {key: value for key, value in positions.items()}
        reply: Any = self.client.xread(streams, count=count, block=block_ms)
        return [(text(key), _entries(entries)) for key, entries in reply or []]

    def page(self, key: str, start: str, until: str, count: int) -> list[Entry]:
        """XRANGE from ``start`` (``-``, an id, or ``(id`` to exclude it) to ``until``."""
        return _entries(self.client.xrange(key, min=start, max=until, count=count))

    def first_id(self, key: str) -> str | None:
        """The id of the stream's oldest entry, None for an empty or missing stream."""
        oldest = self.client.xrange(key, count=1)
        return _entries(oldest)[0][0] if oldest else None

    def task_head(self, task_id: str) -> tuple[str | None, str | None, str | None]:
        """(the task's status, its lane, the id of its last event), in one round trip;
        None for a missing task, or a task with no event yet."""
        status, deployment, last = self.client.hmget(
            keys.task(task_id), "status", "deployment", "evN"
        )
        return maybe_text(status), maybe_text(deployment), maybe_text(last)

    def first_event(self, task_id: str) -> str | None:
        """The id of the task's first event in its lane's stream, None before it has one."""
        return maybe_text(self.client.hget(keys.task(task_id), "ev0"))


def stream_reader(
    url: str, *, name: str, max_connections: int, blocking: bool = False
) -> StreamReader:
    """A reader on its own bounded pool; ``blocking`` ones wait on XREAD BLOCK, so
    their socket has no timeout."""
    if blocking:
        return StreamReader(
            client(url, max_connections=max_connections, socket_timeout=None, name=name)
        )
    return StreamReader(client(url, max_connections=max_connections, name=name))


def _entries(raw: Any) -> list[Entry]:
    return [(text(entry_id), fields) for entry_id, fields in raw]
