"""bench.viewer_whatif, the gunicorn config `python -m bench.viewers --whatif` serves with.

It patches jobsvc from outside, so it breaks silently when jobsvc moves:
serve through it once, with a real gunicorn, and stream a task's events.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import requests
import websocket

from jobsvc.processes.redis_server import free_port
from tests.conftest import ROOT
from tests.helpers import wait_ended, wait_until


def test_whatif_config_serves_live_events(env, svc, make_worker, tmp_path):
    port = free_port()
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:bench.viewer_whatif",
                "jobsvc.web:create_app()",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={
                **os.environ,
                **env,
                "PORT": str(port),
                "JOBSVC_HOST": "127.0.0.1",
                "WEB_CONCURRENCY": "1",
                "JOBSVC_WEB_THREADS": "8",
                "JOBSVC_WHATIF_COALESCE_MS": "20",
            },
        )
    try:
        wait_until(
            lambda: _healthy(port) or web.poll() is not None,
            timeout=30,
            what="gunicorn with bench.viewer_whatif",
        )
        assert web.poll() is None, log.read_text()
        task = svc.submit("whatif", "echo", {"lines": ["a", "b"]})
        make_worker()
        wait_ended(svc, task.id)
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/ws/tasks/{task.id}?since=0", timeout=10
        )
        events = []
        while message := ws.recv():
            events.append(json.loads(message))
        assert [e["data"]["line"] for e in events if e["type"] == "log"] == ["a", "b"]
        assert "COALESCE_S = 0.02" in log.read_text()
    finally:
        os.killpg(web.pid, signal.SIGINT)
        web.wait(30)


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # still booting
        return False
