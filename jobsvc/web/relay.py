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
from dataclasses import dataclass

from flask import current_app
from wsproto.frame_protocol import FrameProtocol

from .. import live, validation
from ..connection import client, resolve_url
from ..hub import Entry, Hub
from . import get_service, get_settings
from .inputs import resume_point

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


@dataclass(frozen=True)
class TaskStream:
    """A task's live stream as checked before it starts."""

    task_id: str
    since: str
    # The stream that holds the task's events: its lane's.
    key: str
    # All there is to send when an ended task's stream needs no following (see
    # live.open_task), else None.
    final: list[dict] | None


def task_stream(task_id: str) -> TaskStream:
    """Everything that can refuse a task's live stream, checked before the stream starts.

    SSE and WebSocket viewers both come through here, so a bad task id, an
    unknown task or a bad resume point is an HTTP answer (400, 404), never
    a stream that breaks once it has begun (``websocket`` turns the 404 into
    a close code, for browsers).
    """
    task_id = validation.task_id(task_id)
    since, field = resume_point()
    opened = live.open_task(get_relay().reads, get_service().store, task_id, since, field)
    return TaskStream(task_id, since, opened.key, opened.final)


def dashboard_stream() -> None:
    """The dashboard's check before it streams: a bad resume point is a 400 here too.

    The dashboard always starts with a snapshot, so a valid one changes nothing.
    """
    resume_point()
