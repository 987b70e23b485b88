"""Live endpoints over SSE: a task's events and the dashboard.

Each viewer iterates a generator of ``jobsvc.live`` fed by the process's
hub (``relay``); the WebSocket endpoints (``websocket``) carry the same
messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Blueprint, Response, stream_with_context

from .. import live
from . import get_service, get_settings
from .relay import TaskStream, dashboard_stream, get_relay, task_stream

bp = Blueprint("live", __name__)


def task_messages(stream: TaskStream) -> Iterator[dict | None]:
    if stream.final is not None:
        return iter(stream.final)
    relay = get_relay()
    return live.task_events(relay.hub, relay.reads, stream.task_id, stream.key, stream.since,
                            get_settings().keepalive_s)


def dashboard_messages() -> Iterator[dict | None]:
    return live.dashboard_events(get_relay().hub, get_service().store, get_settings().keepalive_s)


def sse(messages: Iterator[dict | None], end_event: bool) -> Response:
    def frames() -> Iterator[str]:
        yield "retry: 1000\n\n"  # sends the headers now; clients reconnect after 1 s
        for message in messages:
            if message is None:
                yield ": keep-alive\n\n"
                continue
            frame_id = f"id: {message['id']}\n" if "id" in message else ""
            yield f"{frame_id}data: {json.dumps(message)}\n\n"
        if end_event:
            yield "event: end\ndata: {}\n\n"

    return Response(stream_with_context(frames()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.get("/api/v1/tasks/<task_id>/events")
def task_events_sse(task_id: str) -> Response:
    return sse(task_messages(task_stream(task_id)), end_event=True)


@bp.get("/api/v1/dashboard/events")
def dashboard_events_sse() -> Response:
    dashboard_stream()
    return sse(dashboard_messages(), end_event=False)
