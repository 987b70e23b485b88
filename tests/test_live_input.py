"""A live stream's resume point (``since``, ``Last-Event-ID``): refused before the stream starts.

Against gunicorn as deployed, with real SSE and WebSocket clients: a bad
resume point is a 400 JSON error before any stream or upgrade, on all four
live endpoints, and the server logs no traceback for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis
import requests
import websocket

from jobsvc import keys
from jobsvc.errors import InvalidInput
from jobsvc.live.hub import id_after
from tests.conftest import ROOT
from tests.helpers import wait_ended
from tests.web_process import WebProcess, gunicorn

U64_MAX = 2**64 - 1
# Not a stream id as Redis writes them (``<ms>-<seq>``, both unsigned 64-bit).
MALFORMED = [
    "abc",
    "-1",
    "1-",
    "-",
    "+",
    "$",
    ">",
    "*",
    "1-2-3",
    "1.5",
    "1e3",
    "0x1",
    " 1",
    "1 ",
    "-0",
    "(1-0",
    "1-+1",
    "1--1",
    str(U64_MAX + 1),
    f"1-{U64_MAX + 1}",
    "9" * 40,
    "²",
    "١٢",
    "１",  # digits to str.isdigit(), not to Redis
]
# What a browser could not send in a header: only ASCII values go into Last-Event-ID.
MALFORMED_ASCII = [value for value in MALFORMED if value.isascii() and value.strip() == value]


@pytest.fixture(scope="module")
def web(redis_server, tmp_path_factory) -> WebProcess:
    env = {"JOBSVC_REDIS_URL": redis_server.url, "JOBSVC_TASK_MODULES": "tests.task_types"}
    with gunicorn(env, tmp_path_factory.mktemp("web") / "web.log") as process:
        yield process


@pytest.fixture
def server(web: WebProcess, redis_url: str) -> WebProcess:
    """The module's server, its log looked at from this test on."""
    web.mark()
    return web


def sse(
    web: WebProcess, path: str, since: str | None = None, last_event_id: str | None = None
) -> requests.Response:
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    params = {} if since is None else {"since": since}
    return requests.get(
        web.base_url + path, params=params, headers=headers, stream=True, timeout=10
    )


def sse_refusal(
    web: WebProcess, path: str, since: str | None = None, last_event_id: str | None = None
) -> tuple[int, dict]:
    """Status and JSON body of an SSE request (no body read if a stream started)."""
    with sse(web, path, since, last_event_id) as r:
        is_json = r.headers["Content-Type"].startswith("application/json")
        return r.status_code, r.json() if is_json else {}


def handshake_refusal(web: WebProcess, path: str, since: str) -> tuple[int, dict]:
    """Status and JSON body of a refused WebSocket handshake (fails if it is accepted)."""
    url = f"{web.ws_url}{path}?since={requests.utils.quote(since, safe='')}"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, timeout=10).close()
    return refused.value.status_code, json.loads(refused.value.resp_body)


def assert_refused(status: int, body: dict, field: str) -> None:
    assert status == 400, (status, body)
    assert body["error"]["code"] == "invalid_input" and body["error"]["field"] == field, body


def live_paths(task_id: str) -> dict[str, str]:
    return {"sse": f"/api/v1/tasks/{task_id}/events", "ws": f"/ws/tasks/{task_id}"}


DASHBOARD = {"sse": "/api/v1/dashboard/events", "ws": "/ws/dashboard"}


@pytest.mark.parametrize("since", MALFORMED)
def test_malformed_since_is_refused_before_any_stream_starts(server, svc, since):
    task = svc.submit("prod-eu", "noop")
    for paths in (live_paths(task.id), DASHBOARD):
        assert_refused(*sse_refusal(server, paths["sse"], since=since), "since")
        assert_refused(*handshake_refusal(server, paths["ws"], since), "since")
    server.assert_no_error_logged()


@pytest.mark.parametrize("last_event_id", MALFORMED_ASCII)
def test_malformed_last_event_id_is_refused_before_the_sse_stream_starts(
    server, svc, last_event_id
):
    task = svc.submit("prod-eu", "noop")
    for path in (live_paths(task.id)["sse"], DASHBOARD["sse"]):
        assert_refused(*sse_refusal(server, path, last_event_id=last_event_id), "Last-Event-ID")
        assert_refused(
            *sse_refusal(server, path, since="0", last_event_id=last_event_id), "Last-Event-ID"
        )
    server.assert_no_error_logged()


def sse_ids(response: requests.Response) -> list[str]:
    """The event ids of a task's SSE stream, up to ``event: end``."""
    ids = []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("id: "):
            ids.append(line[4:])
        elif line == "event: end":
            return ids
    raise AssertionError("the stream ended without `event: end`")


def test_since_after_the_streams_last_event_is_refused(server, svc, make_worker, redis_url):
    task = svc.submit("prod-eu", "echo", {"lines": ["a", "b"]})
    make_worker()
    wait_ended(svc, task.id)
    [(last, _)] = redis.Redis.from_url(redis_url).xrevrange(keys.lane_events("prod-eu"), count=1)
    ms, seq = map(int, last.decode().split("-"))
    paths = live_paths(task.id)
    for beyond in (f"{ms}-{seq + 1}", f"{ms + 1}", f"{U64_MAX}-{U64_MAX}"):
        assert_refused(*sse_refusal(server, paths["sse"], since=beyond), "since")
        assert_refused(*sse_refusal(server, paths["sse"], last_event_id=beyond), "Last-Event-ID")
        assert_refused(*handshake_refusal(server, paths["ws"], beyond), "since")
    # Up to the last event itself the stream resumes: here, with nothing left but the end.
    every = sse_ids(sse(server, paths["sse"], since="0"))
    assert len(every) == 4 and every[-1] == f"{ms}-{seq}"  # running, a, b, completed
    assert sse_ids(sse(server, paths["sse"], since=f"{ms}-{seq}")) == []
    assert sse_ids(sse(server, paths["sse"], since=f"{ms}")) == [
        i for i in every if id_after(i, f"{ms}-0")
    ]
    ws = websocket.create_connection(f"{server.ws_url}{paths['ws']}?since={ms}-{seq}", timeout=10)
    opcode, data = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_CLOSE and data[:2] == (1000).to_bytes(2, "big")
    server.assert_no_error_logged()


def test_only_the_start_is_in_range_before_a_task_has_an_event(server, svc):
    task = svc.submit("prod-eu", "noop")  # no worker: it stays queued, its stream unwritten
    paths = live_paths(task.id)
    assert_refused(*sse_refusal(server, paths["sse"], since="1-0"), "since")
    assert_refused(*handshake_refusal(server, paths["ws"], "1-0"), "since")
    for start in ("0", "0-0"):
        with sse(server, paths["sse"], since=start) as r:
            assert r.status_code == 200
    server.assert_no_error_logged()


def test_dashboard_accepts_a_well_formed_since_and_starts_with_a_snapshot(server, svc):
    svc.submit("prod-eu", "noop")
    with sse(server, DASHBOARD["sse"], since="1700000000000-5") as r:
        assert r.status_code == 200
        data = next(line for line in r.iter_lines(decode_unicode=True) if line.startswith("data: "))
    assert json.loads(data[6:])["type"] == "snapshot"
    ws = websocket.create_connection(f"{server.ws_url}{DASHBOARD['ws']}?since=0", timeout=10)
    assert json.loads(ws.recv())["type"] == "snapshot"
    ws.close()
    server.assert_no_error_logged()


def test_ended_task_whose_stream_expired_sends_its_final_status_on_both_transports(
    server, svc, make_worker, redis_url
):
    task = svc.submit("prod-eu", "echo", {"lines": ["a"]})
    make_worker()
    wait_ended(svc, task.id)
    # as JOBSVC_EVENTS_TTL_S does
    redis.Redis.from_url(redis_url).delete(keys.lane_events("prod-eu"))
    paths = live_paths(task.id)
    assert sse_ids(sse(server, paths["sse"])) == ["0-1"]
    ws = websocket.create_connection(f"{server.ws_url}{paths['ws']}", timeout=10)
    message = json.loads(ws.recv())
    assert (message["id"], message["data"]["status"]) == ("0-1", "completed")
    opcode, data = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_CLOSE and data[:2] == (1000).to_bytes(2, "big")
    server.assert_no_error_logged()


def test_python_api_and_cli_take_the_same_checked_path(svc, make_worker, env, redis_url):
    """``svc.events`` and ``jobsvc tail`` refuse what the web refuses, and replay an
    ended task the same way: nothing after its last event, its final status once its
    stream has expired."""
    task = svc.submit("prod-eu", "echo", {"lines": ["a"]})
    make_worker()
    wait_ended(svc, task.id)
    raw = redis.Redis.from_url(redis_url)
    [(last, _)] = raw.xrevrange(keys.lane_events("prod-eu"), count=1)
    ms, seq = map(int, last.decode().split("-"))
    for bad in ("abc", f"{ms}-{seq + 1}"):
        with pytest.raises(InvalidInput) as caught:
            svc.events(task.id, since=bad)
        assert caught.value.field == "since"
        tail = subprocess.run(
            [sys.executable, "-m", "jobsvc", "tail", task.id, "--since", bad],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert tail.returncode == 1 and tail.stdout == ""
        assert "since" in tail.stderr and tail.stderr.count("\n") == 1, tail.stderr
    assert list(svc.events(task.id, since=f"{ms}-{seq}")) == []
    raw.delete(keys.lane_events("prod-eu"))  # as JOBSVC_EVENTS_TTL_S does
    [final] = svc.events(task.id)
    assert (final["id"], final["data"]["status"]) == ("0-1", "completed")
