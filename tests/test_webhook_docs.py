"""docs/webhooks.md's receiver, run as it is written against real deliveries."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import requests

from jobsvc.processes.redis_server import free_port
from tests.helpers import ROOT, jobsvc, wait_until
from tests.webhook_setup import SECRET, deliverer, hooks_env, service, wait_delivery


def doc_receiver() -> str:
    text = (ROOT / "docs" / "webhooks.md").read_text()
    match = re.search(r"<!-- receiver -->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/webhooks.md lost its receiver snippet"
    return match.group(1)


def up(url: str) -> bool:
    try:
        return requests.post(url, timeout=1).status_code == 401  # no headers: refused
    except requests.ConnectionError:
        return False


def test_the_documented_receiver_verifies_and_acts_once(env, make_worker, tmp_path):
    code = doc_receiver()
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
    (tmp_path / "receiver_app.py").write_text(code)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    receiver = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "receiver_app", "run", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "WEBHOOK_SECRET": SECRET, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(lambda: up(url), 30, "the documented receiver to listen")
        forged = {"webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,AA=="}
        assert requests.post(url, data=b"{}", headers=forged).status_code == 401
        env.update(hooks_env(url))
        svc = service(env)
        make_worker()
        task = svc.submit("prod-eu", "noop")
        with deliverer(env):
            done = wait_delivery(svc, "delivered")
            assert done["lastStatusCode"] == 204
            assert jobsvc(env, "redeliver", done["id"]).returncode == 0
            wait_until(lambda: svc.store.webhook_counts()["delivered"] == 2, 30, "redelivery")
    finally:
        os.killpg(receiver.pid, signal.SIGTERM)
        out, _ = receiver.communicate(timeout=10)
    acted = [line for line in out.splitlines() if line.startswith("task.")]
    assert acted == [f"task.completed {task.id}"]  # acted on once, delivered twice
