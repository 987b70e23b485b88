"""Task secrets end to end: real Redis, real worker processes, a real HTTP server
and WebSocket client.  After each run every key in Redis is dumped and searched
for the secret's value and its encodings."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import quote

import pytest
import redis
import requests
import websocket

from jobsvc.redaction import MASK
from tests.helpers import wait_ended, wait_until

# What the shell command runs: a digest of the value, the value, the names in its environment.
SHOW_TOKEN = 'printf %s "$DEPLOY_TOKEN" | sha256sum; echo "raw=$DEPLOY_TOKEN"; env | cut -d= -f1'
# Characters that JSON, percent-encoding and base64 each write differently.
SECRET = 'Tok/en+"s3cr3t"é-42=='
SHELL_ALLOWLIST = json.dumps(
    {
        "showtok": {
            "argv": ["sh", "-c", SHOW_TOKEN],
            "secrets": ["DEPLOY_TOKEN"],
        },
    }
)


def encodings(value: str) -> list[str]:
    """The value as a leak would show it: raw, in JSON, in a URL, in base64, in hex."""
    data = value.encode()
    return [
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        base64.b64encode(data).decode(),
        base64.b64encode(b"ci:" + data).decode()[4:-4],  # inside a Basic auth header
        data.hex(),
    ]


def redis_hits(url: str, needles: list[str]) -> list[tuple[str, str]]:
    """(key, needle) for every needle in the DUMP of any key (uncompressed, so a
    string holding it shows it as it is)."""
    client = redis.Redis.from_url(url)
    client.config_set("rdbcompression", "no")
    hits = []
    for key in client.scan_iter(count=1000):
        blob = client.dump(key) or b""
        hits += [(key.decode(), n) for n in needles if n.encode() in blob]
    return hits


def assert_nothing_in_redis(url: str, control: str) -> None:
    """No encoding of the secret in any key; ``control``, text the task wrote
    next to it, is found (so the search does see what the task stored)."""
    assert redis_hits(url, encodings(SECRET)) == []
    assert redis_hits(url, [control]), f"{control!r} not found: the search sees nothing"


def ws_messages(ws) -> list[dict]:
    out = []
    while True:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return out
        out.append(json.loads(data))


def no_secret_in(text: str) -> bool:
    return not any(form in text for form in encodings(SECRET))


@pytest.fixture
def env(env, tmp_path):
    return {**env, "JOBSVC_SHELL_ALLOWLIST": SHELL_ALLOWLIST}


def test_a_secret_from_a_file_is_masked_in_the_log_stream_progress_steps_and_result(
    svc, make_worker, web_server, redis_url, tmp_path
):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "TEST_TOKEN").write_text(SECRET + "\n")
    watch = tmp_path / "cleared"
    t = svc.submit("prod-eu", "leaky", {"watch": str(watch)})
    ws_url = web_server.replace("http", "ws", 1) + f"/ws/tasks/{t.id}"
    ws = websocket.create_connection(ws_url, timeout=30)
    make_worker(JOBSVC_SECRETS_DIR=str(tmp_path / "secrets"))
    streamed = ws_messages(ws)
    task = wait_ended(svc, t.id)

    assert task["status"] == "completed", task["error"]
    # The handler had the file's value, without its newline.
    assert task["result"]["sha256"] == hashlib.sha256(SECRET.encode()).hexdigest()
    assert task["result"]["token"] == MASK and task["result"]["list"] == [MASK]
    assert task["result"][MASK] == "as a key"
    assert task["progress"]["message"] == f"progress {MASK}"
    assert task["steps"][0]["result"]["echo"] == f"step saw {MASK}"
    assert task["steps"][0]["result"]["hex"] == MASK
    log = requests.get(f"{web_server}/api/v1/tasks/{t.id}/log", timeout=10).text
    assert f"raw {MASK}" in log and "secrets are read-only" in log
    assert log.count(MASK) >= 6 and no_secret_in(log)
    lines = [m["data"]["line"] for m in streamed if m["type"] == "log"]
    assert f"raw {MASK}" in lines and no_secret_in(json.dumps(streamed, ensure_ascii=False))
    assert [m["data"]["message"] for m in streamed if m["type"] == "progress"] == [
        f"progress {MASK}"
    ]
    assert no_secret_in(json.dumps(svc.store.get(t.id), ensure_ascii=False))
    assert_nothing_in_redis(redis_url, control=f"raw {MASK}")
    wait_until(watch.exists, 20, "the handler's watcher to report")
    assert watch.read_text() == "cleared"


def test_a_failing_attempt_masks_the_secret_in_its_step_error_error_and_traceback(
    svc, make_worker, redis_url
):
    t = svc.submit("prod-eu", "leaky", {"fail": True})
    make_worker(JOBSVC_SECRET_TEST_TOKEN=SECRET)
    task = wait_ended(svc, t.id)

    assert task["status"] == "failed" and task["error"]["reason"] == "exception"
    assert task["error"]["message"] == f"step refused token {MASK}"
    assert f"RuntimeError: step refused token {MASK}" in task["error"]["traceback"]
    step = task["steps"][0]
    assert step["status"] == "failed"
    assert step["error"]["message"] == f"step refused token {MASK}"
    assert f"step refused token {MASK}" in step["error"]["traceback"]
    assert no_secret_in(json.dumps(task, ensure_ascii=False))
    assert_nothing_in_redis(redis_url, control=f"step refused token {MASK}")


def test_a_missing_secret_fails_the_task_once_without_running_it_or_retrying(
    svc, make_worker, tmp_path
):
    ran = tmp_path / "ran"
    t = svc.submit("prod-eu", "needs_secret", {"ran": str(ran)})
    make_worker(JOBSVC_SECRETS_DIR=str(tmp_path))
    task = wait_ended(svc, t.id)

    assert task["maxRetries"] == 3
    assert task["status"] == "failed" and task["error"]["reason"] == "secret_missing"
    assert "ABSENT_TOKEN" in task["error"]["message"]
    assert "JOBSVC_SECRET_ABSENT_TOKEN" in task["error"]["message"]
    assert task["retryCount"] == 0
    assert [h["status"] for h in task["history"]] == ["queued", "running", "failed"]
    assert not ran.exists()


def test_an_unreadable_secret_file_is_a_missing_secret_that_says_so(svc, make_worker, tmp_path):
    (tmp_path / "ABSENT_TOKEN").mkdir()  # there, and no file to read (as root, too)
    t = svc.submit("prod-eu", "needs_secret", {"ran": str(tmp_path / "ran")})
    make_worker(JOBSVC_SECRETS_DIR=str(tmp_path), JOBSVC_SECRET_ABSENT_TOKEN="not-used-then")
    task = wait_ended(svc, t.id)

    assert task["error"]["reason"] == "secret_missing" and task["retryCount"] == 0
    assert "ABSENT_TOKEN" in task["error"]["message"]
    assert "unreadable" in task["error"]["message"]


def test_an_environment_secret_that_is_not_utf8_is_a_missing_secret(svc, make_worker, tmp_path):
    """A variable of bytes that are not UTF-8 (Python reads them as surrogates, which
    no encoding of the masks takes) fails the attempt as secret_missing, as such a
    file does, instead of the attempt dying with the task left running."""
    t = svc.submit("prod-eu", "needs_secret", {"ran": str(tmp_path / "ran")})
    make_worker(JOBSVC_SECRET_ABSENT_TOKEN="bytes-\udcff-not-utf8")  # b"bytes-\xff-not-utf8"
    task = wait_ended(svc, t.id)

    assert task["error"]["reason"] == "secret_missing" and task["retryCount"] == 0
    assert "JOBSVC_SECRET_ABSENT_TOKEN" in task["error"]["message"]
    assert "not-utf8" not in task["error"]["message"]
    assert not (tmp_path / "ran").exists()


def test_a_shell_child_gets_its_command_s_secret_in_its_environment_only(
    svc, make_worker, web_server, redis_url
):
    t = svc.submit("prod-eu", "shell", {"command": "showtok"})
    make_worker(JOBSVC_SECRET_DEPLOY_TOKEN=SECRET)
    task = wait_ended(svc, t.id)

    assert task["status"] == "completed", task["error"]
    log = requests.get(f"{web_server}/api/v1/tasks/{t.id}/log", timeout=10).text
    lines = log.splitlines()
    assert hashlib.sha256(SECRET.encode()).hexdigest() in lines[0]
    assert f"raw={MASK}" in lines
    assert "DEPLOY_TOKEN" in lines and not [x for x in lines if x.startswith("JOBSVC_")]
    assert no_secret_in(log)
    assert_nothing_in_redis(redis_url, control=f"raw={MASK}")


def test_a_shell_command_whose_secret_is_missing_fails_with_secret_missing(svc, make_worker):
    t = svc.submit("prod-eu", "shell", {"command": "showtok"})
    make_worker()
    task = wait_ended(svc, t.id)

    assert task["error"]["reason"] == "secret_missing"
    assert "DEPLOY_TOKEN" in task["error"]["message"]
    assert [h["status"] for h in task["history"]] == ["queued", "running", "failed"]
