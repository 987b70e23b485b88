"""Keep-alive HTTP connections next to WebSocket sessions, on gunicorn as deployed."""

from __future__ import annotations

import json

import requests
import websocket

from tests.web_process import gunicorn

# WebSocket sessions in a row.  Before the fix each one's end stalled the
# worker's event loop in about half of the runs, and every stall reset the
# POST that followed it: 12 sessions without a reset are what the fix buys.
SESSIONS = 12
LINES = 300


def test_post_on_a_kept_alive_connection_after_websocket_sessions_is_not_reset(
    env, make_worker, tmp_path
):
    """The issue's repro: one requests.Session, a WebSocket session after each POST."""
    make_worker()
    with gunicorn(env, tmp_path / "web.log") as web:
        session = requests.Session()
        for _ in range(SESSIONS):
            r = session.post(
                f"{web.base_url}/api/v1/deployments/ka/tasks",
                timeout=30,
                json={"type": "echo", "payload": {"lines": [str(j) for j in range(LINES)]}},
            )
            assert r.status_code == 201, r.text
            ws = websocket.create_connection(
                f"{web.ws_url}/ws/tasks/{r.json()['task']['id']}?since=0", timeout=30
            )
            messages = []
            while message := ws.recv():
                messages.append(json.loads(message))
            ws.close()
            assert [m["data"]["line"] for m in messages if m["type"] == "log"] == [
                str(j) for j in range(LINES)
            ]
            assert messages[-1]["data"]["status"] == "completed"
        web.assert_no_error_logged()
