"""Live endpoints over WebSocket (flask-sock): a task's events and the dashboard.

A task viewer first catches up on its own, at its own pace; then it is
attached to the hub, which writes every later event straight to its socket
(``live.sink``), rendered once for all viewers of the task
(``live.events.follow_into``).  The viewer's thread only waits for the end,
the viewer leaving, or its backlog overflowing.

Whatever can refuse a viewer is checked before flask-sock's handshake, so a
refusal is an HTTP answer (400, 404) and not a 101 then a close code; and
every session ends its TCP connection itself, from its own thread
(``hang_up``), before the server gets the connection back.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import socket
from collections.abc import Callable, Generator, Iterator
from typing import Any

from flask import Blueprint, current_app, g, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed, Server
from wsproto.utilities import LocalProtocolError

from ..errors import InvalidInput, JobsvcError, NotFound
from ..live import sink
from ..live.events import TaskStream
from ..live.hub import HubClosed
from .ext import get_service
from .sse import dashboard_stream, task_stream

bp = Blueprint("websocket", __name__)
sock = Sock()
# Close codes: 4000-4999 are the application's own; 1001 is "going away" (RFC 6455).
CLOSE_NORMAL, CLOSE_ERROR, CLOSE_NOT_FOUND, CLOSE_TOO_SLOW = 1000, 1011, 4404, 4429
CLOSE_GOING_AWAY = 1001
GOING_AWAY = "server shutting down; reconnect with since=<last id received>"
# Where WSGI servers put a request's socket: the keys simple-websocket reads.
SERVER_SOCKETS = ("gunicorn.socket", "werkzeug.socket")
# How long an ended session waits for the viewer's close frame before shutting the
# connection anyway, in seconds.
CLOSE_REPLY_S = 5.0
# Errors that mean the viewer has gone.
GONE = (ConnectionClosed, OSError, LocalProtocolError)
# Control characters (tab aside) that the handshake's HTTP parser refuses in a header
# value; a server may pass them on to the application, which then sees them first.
HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@bp.before_request
def before_handshake() -> None:
    """Runs the stream's checks, then hands the socket over, before flask-sock's handshake.

    An unknown task is the exception: a browser is told nothing of a refused
    handshake, so it is refused after it, with close code 4404.
    """
    check_headers()
    task_id = (request.view_args or {}).get("task_id")
    if task_id is None:
        dashboard_stream()
    else:
        try:
            g.task_stream = task_stream(task_id)
        except NotFound as exc:
            g.task_stream = exc
    own_socket()


def check_headers() -> None:
    """A header value with a control character is a 400 here, before the handshake.

    simple-websocket rebuilds the request for its HTTP parser (wsproto, h11),
    which refuses such a value with an error nothing above it would catch.
    """
    for name, value in request.headers.items():
        if HEADER_CONTROL.search(value):
            raise InvalidInput(
                f"header {name} holds a control character", field=name, code="invalid_header"
            )


def own_socket() -> None:
    """Gives simple-websocket's reader thread a descriptor of its own.

    The reader closes its socket whenever it ends, while the server closes
    the connection's socket too: sharing one socket object, gunicorn's
    gthread worker found it closed under it (and counted the connection as
    closed twice), or read from it while the reader closed it.  With a
    duplicate each closes only what it holds; ``hang_up`` ends the
    connection, once.  A TLS socket cannot be duplicated and stays shared.
    """
    for key in SERVER_SOCKETS:
        if key in request.environ:
            connection = g.ws_connection = request.environ[key]
            with contextlib.suppress(NotImplementedError):
                request.environ[key] = connection.dup()
            return


def session(handler: Callable[..., None]) -> Callable[..., None]:
    """A WebSocket handler whose connection is ended by its own thread when it returns.

    An error after the upgrade can no longer be an HTTP answer: it is
    logged and the viewer gets close code 1011.
    """

    @functools.wraps(handler)
    def run(ws: Server, *args: Any, **kwargs: Any) -> None:
        try:
            handler(ws, *args, **kwargs)
        except GONE:
            pass
        except HubClosed:
            with contextlib.suppress(*GONE):
                ws.close(CLOSE_GOING_AWAY, GOING_AWAY)
        except Exception:
            current_app.logger.exception("error in the WebSocket session %s", request.path)
            with contextlib.suppress(*GONE):
                ws.close(CLOSE_ERROR, "internal error; the server log has the details")
        finally:
            hang_up(ws)

    return run


def hang_up(ws: Server) -> None:
    """Ends a session's TCP connection: close frame out, the viewer's close back, then shut.

    Each step is bounded.  Left to gunicorn, the connection was ended on its
    gthread worker's event-loop thread, which lingers (up to 2 s) reading
    until the peer closes its side; a client that waits for the server to
    close first, as RFC 6455 lets it (websocket-client does), stalled the
    whole worker that long, and every kept-alive connection whose keep-alive
    ran out meanwhile was closed with the client's next request unread, so
    the client got a reset.  A connection handed back already shut is
    closed by gunicorn at once.
    """
    with contextlib.suppress(*GONE):
        if ws.connected:
            ws.close()
        if isinstance(ws.sock, sink.SinkSocket):
            ws.sock.drain()
    ws.thread.join(CLOSE_REPLY_S)  # the reader ends on the viewer's close frame
    connection = g.pop("ws_connection", None)
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    ws.thread.join(CLOSE_REPLY_S)


def relay_ws(ws: Server, messages: Iterator[dict[str, Any] | None]) -> None:
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
        ws.close(CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_ERROR, exc.message[:120])
    except GONE:
        pass
    finally:
        if isinstance(messages, Generator):
            messages.close()  # leaves the hub now, not when collected


def _stream_task(ws: Server, stream: TaskStream) -> None:
    """The hot path: the hub writes the task's events straight to the viewer's socket."""
    out = sink.attach(ws)
    if not get_service().task_events_into(stream, out, lambda: ws.connected):
        return
    if out.stopped:
        ws.close(CLOSE_GOING_AWAY, GOING_AWAY)
    elif out.overflowed:
        ws.close(CLOSE_TOO_SLOW, "viewer too slow; resume with since=<last id received>")
    elif not out.failed and out.drain():
        ws.close(CLOSE_NORMAL, "end of stream")


@sock.route("/ws/tasks/<task_id>", bp=bp)
@session
def task_events_ws(ws: Server, task_id: str) -> None:
    stream: TaskStream | NotFound = g.task_stream  # checked before the handshake
    if isinstance(stream, NotFound):
        ws.close(CLOSE_NOT_FOUND, stream.message[:120])
    elif stream.final is not None:
        relay_ws(ws, iter(stream.final))
    else:
        _stream_task(ws, stream)


@sock.route("/ws/dashboard", bp=bp)
@session
def dashboard_ws(ws: Server) -> None:
    relay_ws(ws, get_service().dashboard_events())
