"""The web process's relay: its one hub and the bounded client viewers read with.

Every viewer of a process is served by one ``Hub`` (one blocking reader)
plus a pool of ``RELAY_POOL`` connections for catch-up reads, so Redis
connections do not grow with viewers.  They carry the client name
``jobsvc-relay-<pid>-<n>``, so ``CLIENT LIST`` shows what a process holds.
"""

from __future__ import annotations

import itertools
import os
import threading

from flask import current_app, request
from wsproto.frame_protocol import FrameProtocol

from .. import live, validation
from ..connection import client, resolve_url
from ..errors import InvalidInput
from ..hub import Entry, Hub
from . import get_service, get_settings

EXTENSION = "jobsvc.hub"
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
        self.reads = client(url, max_connections=RELAY_POOL, name=self.name)
        self.hub = Hub(client(url, max_connections=1, socket_timeout=None, name=self.name),
                       render=websocket_frames)


def get_relay() -> Relay:
    app = current_app
    relay = app.extensions.get(EXTENSION)
    if relay is None:
        with app.extensions.setdefault(EXTENSION + ".lock", threading.Lock()):
            relay = app.extensions.get(EXTENSION)
            if relay is None:
                relay = app.extensions[EXTENSION] = Relay(resolve_url(get_settings()))
    return relay


def existing_task(task_id: str) -> str:
    """The task id, or NotFound: checked before a stream starts so the answer is a 404."""
    get_service().store.get(validation.task_id(task_id))
    return task_id


def since_param() -> str:
    """Resume point: ``Last-Event-ID`` (SSE reconnects) or ``?since=``; 0 is the start."""
    since = request.headers.get("Last-Event-ID") or request.args.get("since") or "0"
    ms, _, seq = since.partition("-")
    if not ms.isdigit() or (seq and not seq.isdigit()):
        raise InvalidInput("since must be a stream id such as 1700000000000-0, or 0",
                           field="since")
    return since
