"""Live endpoints: a task's events and the dashboard, over SSE and WebSocket.

Both transports iterate the same generators (``jobsvc.live``), so they
carry the same messages.  Every viewer of a web process is served by the
process's one ``Hub`` (one blocking reader) plus a small bounded pool for
catch-up reads, so Redis connections do not grow with viewers.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, request, stream_with_context
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from .. import live, validation
from ..connection import client, resolve_url
from ..errors import JobsvcError
from ..hub import Hub
from . import get_service, get_settings

bp = Blueprint("live", __name__)
sock = Sock()
HUB = "jobsvc.hub"
# Connections of the relay besides the hub's reader: catch-up and snapshot reads.
RELAY_POOL = 3
# WebSocket close codes (4000-4999 are the application's own).
CLOSE_NORMAL, CLOSE_NOT_FOUND, CLOSE_TOO_SLOW = 1000, 4404, 4429


class Relay:
    """The app's hub and the bounded client viewers catch up with.

    Its connections carry the client name ``jobsvc-relay-<pid>-<n>``, so
    ``CLIENT LIST`` shows what one web process holds for relaying.
    """

    _made = itertools.count(1)

    def __init__(self, url: str):
        self.name = f"jobsvc-relay-{os.getpid()}-{next(self._made)}"
        self.reads = client(url, max_connections=RELAY_POOL, name=self.name)
        self.hub = Hub(client(url, max_connections=1, socket_timeout=None, name=self.name))


def get_relay() -> Relay:
    app = current_app
    relay = app.extensions.get(HUB)
    if relay is None:
        with app.extensions.setdefault(HUB + ".lock", threading.Lock()):
            relay = app.extensions.get(HUB)
            if relay is None:
                relay = app.extensions[HUB] = Relay(resolve_url(get_settings()))
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
        from ..errors import InvalidInput

        raise InvalidInput("since must be a stream id such as 1700000000000-0, or 0",
                           field="since")
    return since


def task_messages(task_id: str, since: str) -> Iterator[dict | None]:
    relay, svc = get_relay(), get_service()
    return live.task_events(relay.hub, relay.reads, svc.store, task_id, since,
                            get_settings().keepalive_s)


def dashboard_messages() -> Iterator[dict | None]:
    return live.dashboard_events(get_relay().hub, get_service().store, get_settings().keepalive_s)


# -- SSE --------------------------------------------------------------------------


def sse(messages: Iterator[dict | None], end_event: bool) -> Response:
    def frames() -> Iterator[str]:
        yield "retry: 1000\n\n"  # sends the headers now; clients reconnect after 1 s
        try:
            for message in messages:
                if message is None:
                    yield ": keep-alive\n\n"
                    continue
                frame_id = f"id: {message['id']}\n" if "id" in message else ""
                yield f"{frame_id}data: {json.dumps(message)}\n\n"
        except live.ViewerTooSlow as exc:
            yield f"event: error\ndata: {json.dumps({'reason': str(exc)})}\n\n"
            return
        if end_event:
            yield "event: end\ndata: {}\n\n"

    return Response(stream_with_context(frames()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.get("/api/v1/tasks/<task_id>/events")
def task_events_sse(task_id: str) -> Response:
    task_id, since = existing_task(task_id), since_param()  # a 404 or 400 before streaming
    return sse(task_messages(task_id, since), end_event=True)


@bp.get("/api/v1/dashboard/events")
def dashboard_events_sse() -> Response:
    return sse(dashboard_messages(), end_event=False)


# -- WebSocket --------------------------------------------------------------------


def relay_ws(ws, messages: Iterator[dict | None]) -> None:
    """Sends each message; on a quiet interval, checks the viewer is still there."""
    try:
        for message in messages:
            if message is None:
                if not ws.connected:
                    return
                continue
            ws.send(json.dumps(message))
        ws.close(CLOSE_NORMAL, "end of stream")
    except live.ViewerTooSlow as exc:
        ws.close(CLOSE_TOO_SLOW, str(exc)[:120])
    except JobsvcError as exc:
        ws.close(CLOSE_NOT_FOUND if exc.status == 404 else 1011, exc.message[:120])
    except ConnectionClosed:
        pass
    finally:
        messages.close()  # type: ignore[attr-defined]


@sock.route("/ws/tasks/<task_id>")
def task_events_ws(ws, task_id: str) -> None:
    try:
        messages = task_messages(existing_task(task_id), since_param())
    except JobsvcError as exc:
        ws.close(CLOSE_NOT_FOUND if exc.status == 404 else 1008, exc.message[:120])
        return
    relay_ws(ws, messages)


@sock.route("/ws/dashboard")
def dashboard_ws(ws) -> None:
    relay_ws(ws, dashboard_messages())
