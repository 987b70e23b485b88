"""Live streams end promptly when the web server stops (a real gunicorn, real clients).

gunicorn waits for open requests up to its graceful timeout (30 s) when it
is told to stop; a live stream never ends by itself, so `jobsvc up`'s Ctrl-C
waited on a dashboard stream whose viewer had already left.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import SimpleNamespace

import requests
import websocket
from flask import Flask

from jobsvc.live.hub import Hub
from jobsvc.processes.gunicorn_conf import _stop_live_once
from jobsvc.web.ext import RELAY
from tests.helpers import wait_until
from tests.web_process import gunicorn

# How soon after SIGTERM every stream must have ended, in seconds.
END_WITHIN_S = 2.5


class Viewer(threading.Thread):
    """Reads one stream to its end; records when it ended and how."""

    def __init__(self, read):
        super().__init__(daemon=True)
        self.read = read
        self.opened = threading.Event()
        self.ended_at: float | None = None
        self.how = ""

    def run(self) -> None:
        try:
            self.how = self.read(self.opened)
        except Exception as exc:  # noqa: BLE001  (recorded, checked by the test)
            self.how = f"error: {exc!r}"
        self.ended_at = time.monotonic()


def sse(url: str):
    def read(opened: threading.Event) -> str:
        with requests.get(url, stream=True, timeout=60) as response:
            received = b""
            for chunk in response.iter_content(chunk_size=None):
                received += chunk
                opened.set()
            return "end event" if b"event: end" in received else "closed"

    return read


def ws(url: str):
    def read(opened: threading.Event) -> str:
        conn = websocket.create_connection(url, timeout=60)
        opened.set()
        while True:
            opcode, data = conn.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return f"close {int.from_bytes(data[:2], 'big')}"

    return read


def test_sse_and_websocket_streams_end_within_seconds_of_sigterm(env, svc, tmp_path):
    task = svc.submit("prod-eu", "noop")  # no worker: it stays queued, its stream open
    with gunicorn(env, tmp_path / "web.log") as web:
        viewers = [
            Viewer(sse(f"{web.base_url}/api/v1/tasks/{task.id}/events")),
            Viewer(sse(f"{web.base_url}/api/v1/dashboard/events")),
            Viewer(ws(f"{web.ws_url}/ws/tasks/{task.id}")),
            Viewer(ws(f"{web.ws_url}/ws/dashboard")),
        ]
        for viewer in viewers:
            viewer.start()
            assert viewer.opened.wait(20), viewer.how
        stopped_at = time.monotonic()
        os.killpg(web.proc.pid, signal.SIGTERM)
        for viewer in viewers:
            viewer.join(END_WITHIN_S + 30)
        web.proc.wait(10)
    took = [round(v.ended_at - stopped_at, 2) if v.ended_at else None for v in viewers]
    assert all(t is not None and t < END_WITHIN_S for t in took), took
    assert [v.how for v in viewers] == ["closed", "closed", "close 1001", "close 1001"]


def test_a_second_sigterm_during_the_first_never_waits_on_the_hub():
    """gunicorn's worker gets SIGTERM twice (the group's, then the arbiter's); the
    second handler runs in the same thread while the first may hold the hub's lock.
    Stopping the streams must not wait on it there (it did: a 30 s hang)."""
    hub = Hub(reader=None)  # type: ignore[arg-type]  (never started: nothing to read)
    app = Flask(__name__)
    app.extensions[RELAY] = SimpleNamespace(hub=hub)
    worker = SimpleNamespace(wsgi=app)

    def handler_inside_the_first_one() -> None:
        with hub._lock:  # the first handler, interrupted inside hub.close
            _stop_live_once(worker)

    second = threading.Thread(target=handler_inside_the_first_one, daemon=True)
    second.start()
    second.join(2)
    assert not second.is_alive(), "the second handler waited on the lock its own thread held"
    wait_until(lambda: hub._closed, 5, "the hub to close once its lock was free")
