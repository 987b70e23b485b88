"""Live endpoints over WebSocket (flask-sock): a task's events and the dashboard.

A task viewer first catches up on its own, at its own pace; then it is
attached to the hub, which writes every later event straight to its socket
(``sink``), rendered once for all viewers of the task.  The viewer's thread
only waits for the end, the viewer leaving, or its backlog overflowing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask_sock import Sock
from simple_websocket import ConnectionClosed
from wsproto.utilities import LocalProtocolError

from .. import keys, live
from ..errors import JobsvcError
from ..hub import catch_up
from . import get_service, get_settings, sink
from .live import dashboard_messages
from .relay import Relay, existing_task, get_relay, since_param, websocket_frames

sock = Sock()
# Close codes: 4000-4999 are the application's own.
CLOSE_NORMAL, CLOSE_NOT_FOUND, CLOSE_TOO_SLOW = 1000, 4404, 4429
# Bytes of catch-up frames sent per blocking flush.
CATCH_UP_CHUNK = 64 * 1024
# Errors that mean the viewer has gone.
GONE = (ConnectionClosed, OSError, LocalProtocolError)


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
    except JobsvcError as exc:
        ws.close(CLOSE_NOT_FOUND if exc.status == 404 else 1011, exc.message[:120])
    except GONE:
        pass
    finally:
        messages.close()  # type: ignore[attr-defined]


def _catch_up(out: sink.SocketSink, relay: Relay, key: str, since: str, until: str
              ) -> tuple[str, bool]:
    """Sends the entries after ``since`` up to the join id, at the viewer's pace.

    Returns (last id sent, whether the stream ended).
    """
    last, pending = since, 0
    for entry in catch_up(relay.reads, key, since, until):
        data, ended = websocket_frames([entry])
        out.write(data)
        last, pending = entry[0], pending + len(data)
        if ended:
            return last, True
        if pending >= CATCH_UP_CHUNK:
            if not out.drain():
                break
            pending = 0
    return last, False


def _stream_task(ws, relay: Relay, key: str, since: str) -> None:
    out = sink.attach(ws)
    sub = relay.hub.subscribe(key)
    try:
        last, ended = _catch_up(out, relay, key, since, sub.join_id)
        if not out.drain():
            return
        if not ended:
            relay.hub.attach(sub, out, last)
            while not out.done.wait(get_settings().keepalive_s):
                out.flush()
                if not ws.connected:
                    return
        if out.overflowed:
            ws.close(CLOSE_TOO_SLOW, "viewer too slow; resume with since=<last id received>")
        elif not out.failed and out.drain():
            ws.close(CLOSE_NORMAL, "end of stream")
    finally:
        relay.hub.unsubscribe(sub)


@sock.route("/ws/tasks/<task_id>")
def task_events_ws(ws, task_id: str) -> None:
    try:
        task_id, since = existing_task(task_id), since_param()
        relay = get_relay()
        final = live.expired_stream(relay.reads, get_service().store, task_id, since)
    except JobsvcError as exc:
        ws.close(CLOSE_NOT_FOUND if exc.status == 404 else 1008, exc.message[:120])
        return
    if final is not None:
        relay_ws(ws, iter(final))
        return
    try:
        _stream_task(ws, relay, keys.events(task_id), since if since != "0" else "0-0")
    except GONE:
        pass


@sock.route("/ws/dashboard")
def dashboard_ws(ws) -> None:
    relay_ws(ws, dashboard_messages())
