"""Live output over real WebSocket and SSE connections to a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
import redis
import requests
import websocket
from werkzeug.serving import make_server

from jobsvc.processes.redis_server import free_port
from jobsvc.settings import Settings
from jobsvc.web import create_app
from tests.conftest import ROOT
from tests.helpers import wait_ended, wait_until

LINES = 10_000


@pytest.fixture
def live(settings):
    """(base URL, app) of a real server with a short keep-alive."""
    app = create_app(Settings(**{**settings.__dict__, "keepalive_s": 0.3}))
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join(10)
    if "jobsvc.hub" in app.extensions:
        app.extensions["jobsvc.hub"].hub.stop()


def ws_messages(ws, stop_after=None):
    """Messages until the server closes (or ``stop_after`` messages)."""
    out = []
    while stop_after is None or len(out) < stop_after:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return out, int.from_bytes(data[:2], "big")
        out.append(json.loads(data))
    return out, None


def sse_messages(response):
    """(id, message) pairs of an SSE response, until ``event: end``."""
    event, data, frame_id = "message", [], None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("id: "):
            frame_id = line[4:]
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            if event == "end":
                return
            yield frame_id, json.loads("".join(data))
            event, data, frame_id = "message", [], None


def log_lines(messages):
    return [m["data"]["line"] for m in messages if m["type"] == "log"]


@pytest.fixture
def big_task(svc, make_worker):
    t = svc.submit("prod-eu", "echo", {"lines": [f"line-{i}" for i in range(LINES)]})
    make_worker()
    return t


def test_websocket_delivers_every_line_in_order_then_closes_1000(live, big_task):
    host, _ = live
    ws = websocket.create_connection(f"ws://{host}/ws/tasks/{big_task.id}", timeout=60)
    messages, code = ws_messages(ws)
    assert code == 1000
    assert log_lines(messages) == [f"line-{i}" for i in range(LINES)]
    assert [m["data"]["status"] for m in messages if m["type"] == "status"] == [
        "running",
        "completed",
    ]
    assert messages[-1]["type"] == "status" and messages[-1]["at"].endswith("Z")


def test_websocket_resume_with_since_has_no_gap_and_no_duplicate(live, big_task):
    host, _ = live
    ws = websocket.create_connection(f"ws://{host}/ws/tasks/{big_task.id}", timeout=60)
    first, _ = ws_messages(ws, stop_after=4000)
    ws.close()
    ws = websocket.create_connection(
        f"ws://{host}/ws/tasks/{big_task.id}?since={first[-1]['id']}", timeout=60
    )
    rest, code = ws_messages(ws)
    assert code == 1000
    assert log_lines(first + rest) == [f"line-{i}" for i in range(LINES)]
    ids = [m["id"] for m in first + rest]
    assert len(ids) == len(set(ids))


def test_sse_resume_with_last_event_id(live, big_task):
    host, _ = live
    url = f"http://{host}/api/v1/tasks/{big_task.id}/events"
    first = []
    with requests.get(url, stream=True, timeout=60) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        for frame_id, message in sse_messages(r):
            first.append((frame_id, message))
            if len(first) == 3000:
                break
    with requests.get(url, headers={"Last-Event-ID": first[-1][0]}, stream=True, timeout=60) as r:
        rest = list(sse_messages(r))
    messages = [m for _, m in first + rest]
    assert log_lines(messages) == [f"line-{i}" for i in range(LINES)]
    assert all(frame_id == m["id"] for frame_id, m in first + rest)
    assert messages[-1]["data"]["status"] == "completed"


def test_dashboard_sends_snapshot_then_each_change(live, svc):
    host, _ = live
    svc.submit("prod-eu", "noop")
    ws = websocket.create_connection(f"ws://{host}/ws/dashboard", timeout=10)
    snapshot = json.loads(ws.recv())
    assert snapshot["type"] == "snapshot"
    assert [s["deployment"] for s in snapshot["deployments"]] == ["prod-eu"]
    assert snapshot["deployments"][0]["activeTaskStatus"] == "queued"
    svc.submit("prod-us", "noop")
    svc.pause("prod-eu")
    updates = [json.loads(ws.recv()) for _ in range(2)]
    assert [u["type"] for u in updates] == ["deployment", "deployment"]
    assert updates[0]["deployment"]["deployment"] == "prod-us"
    assert updates[1]["deployment"] == {**snapshot["deployments"][0], "paused": True}
    ws.close()


def test_dashboard_sse_snapshot(live, svc):
    host, _ = live
    svc.submit("prod-eu", "noop")
    with requests.get(f"http://{host}/api/v1/dashboard/events", stream=True, timeout=10) as r:
        _, snapshot = next(sse_messages(r))
    assert snapshot["type"] == "snapshot" and snapshot["deployments"][0]["queueDepth"] == 0


def test_unknown_task_is_refused_on_both_transports(live):
    host, _ = live
    ws = websocket.create_connection(f"ws://{host}/ws/tasks/0123456789abcdef", timeout=10)
    assert ws_messages(ws) == ([], 4404)
    r = requests.get(f"http://{host}/api/v1/tasks/0123456789abcdef/events", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "task_not_found"


def test_auth_is_required_for_live_endpoints(env, svc):
    app = create_app(Settings.from_env({**env, "JOBSVC_API_TOKENS": "ci:s3cret"}))
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    host = f"127.0.0.1:{server.server_port}"
    try:
        with pytest.raises(websocket.WebSocketBadStatusException) as exc:
            websocket.create_connection(f"ws://{host}/ws/dashboard", timeout=10)
        assert exc.value.status_code == 401
        assert requests.get(f"http://{host}/api/v1/dashboard/events", timeout=10).status_code == 401
        ws = websocket.create_connection(f"ws://{host}/ws/dashboard?token=s3cret", timeout=10)
        assert json.loads(ws.recv())["type"] == "snapshot"
        ws.close()
    finally:
        server.shutdown()


def test_viewer_leaving_mid_stream_leaves_nothing_behind(
    live, svc, make_worker, tmp_path, redis_url
):
    host, app = live
    t = svc.submit("prod-eu", "wait_file", {"path": str(tmp_path / "never")})
    make_worker()
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    baseline = threading.active_count()
    viewers = [
        websocket.create_connection(f"ws://{host}/ws/tasks/{t.id}", timeout=10) for _ in range(20)
    ]
    for ws in viewers:
        assert json.loads(ws.recv())["data"]["status"] == "running"
    relay_of_app = app.extensions["jobsvc.hub"]
    hub = relay_of_app.hub
    assert hub.viewer_count() == 20
    relay = [
        c for c in redis.Redis.from_url(redis_url).client_list() if c["name"] == relay_of_app.name
    ]
    assert 1 <= len(relay) <= 4
    for ws in viewers:
        ws.close()
    wait_until(lambda: hub.viewer_count() == 0, 10, "viewers to be dropped")
    wait_until(lambda: threading.active_count() <= baseline + 1, 10, "threads to end")
    svc.cancel(t.id)


def test_python_api_and_tail_follow_a_task(svc, make_worker, env):
    t = svc.submit("prod-eu", "count", {"n": 1})
    make_worker()
    kinds = [e["type"] for e in svc.events(t.id)]
    assert kinds == ["status", "progress", "log", "status"]
    tail = subprocess.run(
        [sys.executable, "-m", "jobsvc", "tail", t.id],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tail.returncode == 0 and "attempt 1" in tail.stdout
    assert "half way" in tail.stdout and "-- completed" in tail.stderr
    failed = svc.submit("prod-eu", "fail")
    wait_ended(svc, failed.id)
    tail = subprocess.run(
        [sys.executable, "-m", "jobsvc", "tail", failed.id],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tail.returncode == 1 and "-- failed" in tail.stderr


def test_sse_viewer_that_falls_behind_catches_up_without_gap(live, svc, make_worker, monkeypatch):
    import jobsvc.live.hub

    monkeypatch.setattr(jobsvc.live.hub, "BUFFER", 5)  # every burst of lines overflows it
    host, _ = live
    t = svc.submit("prod-eu", "echo", {"lines": [f"line-{i}" for i in range(LINES)]})
    with requests.get(f"http://{host}/api/v1/tasks/{t.id}/events", stream=True, timeout=60) as r:
        make_worker()  # the lines arrive live, far faster than this viewer reads them
        messages = [m for _, m in sse_messages(r)]
    assert log_lines(messages) == [f"line-{i}" for i in range(LINES)]
    assert len({m["id"] for m in messages}) == len(messages)
