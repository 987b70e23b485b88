"""A process's relay: its one hub and the bounded reader viewers catch up with.

Every viewer of a process (each web process's SSE and WebSocket viewers, a
CLI's ``tail``) is served by one ``Hub`` (one blocking reader) plus a pool of
``RELAY_POOL`` connections for catch-up reads, so Redis connections do not
grow with viewers.  The ``Service`` builds its relay on first use.  They carry the client name
``jobsvc-relay-<pid>-<n>``, so ``CLIENT LIST`` shows what a process holds.
"""

from __future__ import annotations

import itertools
import os

from wsproto.frame_protocol import FrameProtocol

from ..store.streams import Entry, stream_reader
from . import events as live
from .hub import Hub

# Connections of the relay besides the hub's reader: catch-up and snapshot reads.
RELAY_POOL = 3


def websocket_frames(entries: list[Entry]) -> tuple[bytes, bool]:
    """Task events as WebSocket text frames, rendered once for every attached viewer."""
    frames = FrameProtocol(client=False, extensions=[])
    return live.render_frames(entries, lambda text: bytes(frames.send_data(text, fin=True)))


class Relay:
    _made = itertools.count(1)

    def __init__(self, url: str):
        self.name = f"jobsvc-relay-{os.getpid()}-{next(self._made)}"
        self.reads = stream_reader(url, max_connections=RELAY_POOL, name=self.name)
        self.hub = Hub(
            stream_reader(url, max_connections=1, blocking=True, name=self.name),
            render=websocket_frames,
        )
