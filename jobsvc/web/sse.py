"""Live endpoints over SSE: a task's events and the dashboard.

Each viewer iterates the Service's generator of its messages (``live.events``,
fed by the process's hub); the WebSocket endpoints (``websocket``) carry the
same messages, checked the same way first (``task_stream``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, stream_with_context

from ..live.events import TaskStream
from ..live.hub import HubClosed
from .ext import get_service
from .inputs import resume_point

bp = Blueprint("live", __name__)


def task_stream(task_id: str) -> TaskStream:
    """Everything that can refuse a task's live stream, checked before the stream starts.

    SSE and WebSocket viewers both come through here, so a bad task id, an
    unknown task or a bad resume point is an HTTP answer (400, 404), never
    a stream that breaks once it has begun (``websocket`` turns the 404 into
    a close code, for browsers).
    """
    since, field = resume_point()
    return get_service().open_events(task_id, since, field)


def dashboard_stream() -> None:
    """The dashboard's check before it streams: a bad resume point is a 400 here too.

    The dashboard always starts with a snapshot, so a valid one changes nothing.
    """
    resume_point()


def sse(messages: Iterator[dict[str, Any] | None], end_event: bool) -> Response:
    def frames() -> Iterator[str]:
        yield "retry: 1000\n\n"  # sends the headers now; clients reconnect after 1 s
        try:
            for message in messages:
                if message is None:
                    yield ": keep-alive\n\n"
                    continue
                frame_id = f"id: {message['id']}\n" if "id" in message else ""
                yield f"{frame_id}data: {json.dumps(message)}\n\n"
        except HubClosed:
            return  # the server stops: no `end`, so the client reconnects and resumes
        if end_event:
            yield "event: end\ndata: {}\n\n"

    return Response(
        stream_with_context(frames()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@bp.get("/api/v1/tasks/<task_id>/events")
def task_events_sse(task_id: str) -> Response:
    return sse(get_service().task_events(task_stream(task_id)), end_event=True)


@bp.get("/api/v1/dashboard/events")
def dashboard_events_sse() -> Response:
    dashboard_stream()
    return sse(get_service().dashboard_events(), end_event=False)
