"""Loopback mode (no tokens) is safe from web pages the local user visits.

A page on any site can make the browser send requests to 127.0.0.1: with DNS
rebinding its own host name resolves to loopback (the request then carries
the page's Host), and a cross-site form post or WebSocket carries the page's
Origin.  Every test here talks to a real server over loopback with exact
headers.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests
import websocket

from jobsvc.settings import Settings
from jobsvc.web import create_app
from tests.api_client import assert_error, serve, task_count

TOKEN = "s3cret-token"


def _serve(settings: Settings) -> Iterator[str]:
    app = create_app(settings)
    with serve(app) as url:
        yield url
    if "jobsvc.hub" in app.extensions:
        app.extensions["jobsvc.hub"].hub.stop()


@pytest.fixture
def base(settings: Settings) -> Iterator[str]:
    """A real server in loopback mode: no tokens configured."""
    assert not settings.auth_required
    yield from _serve(settings)


@pytest.fixture
def with_tokens(env: dict[str, str]) -> Iterator[str]:
    yield from _serve(Settings.from_env({**env, "JOBSVC_API_TOKENS": f"ci:{TOKEN}"}))


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def ws_url(base: str, path: str = "/ws/dashboard") -> str:
    return "ws" + base.removeprefix("http") + path


def submit(base: str, **headers: str) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/deployments/prod-eu/tasks",
        json={"type": "noop"},
        headers=headers,
        timeout=30,
    )


# -- Host: DNS rebinding -------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:{port}",
        "localhost.evil.example:{port}",
        "127.0.0.1.nip.io:{port}",
        "foo.localhost:{port}",
        "localhost.:{port}",
        "0.0.0.0:{port}",
        "[::]:{port}",
        "10.0.0.5:{port}",
        "evil.example@127.0.0.1:{port}",
        "127.0.0.1:{port}@evil.example",
        "127.0.0.1:{port}/x",
        "127.1:{port}",
        "2130706433:{port}",
        "localhost:{port}:1",
        "localhost:port",
        "",
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/tasks", "/", "/healthz", "/api/v1/no-such-endpoint"])
def test_foreign_host_is_refused_on_every_route(base: str, host: str, path: str) -> None:
    r = requests.get(base + path, headers={"Host": host.format(port=port_of(base))}, timeout=30)
    assert_error(r, 403, "bad_host")


def test_foreign_host_cannot_submit(base: str, redis_url: str) -> None:
    assert_error(submit(base, Host="evil.example"), 403, "bad_host")
    assert task_count(redis_url) == 0


def test_foreign_host_cannot_open_a_websocket(base: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        websocket.create_connection(
            ws_url(base), host="evil.example", origin="http://evil.example", timeout=10
        )
    assert exc.value.status_code == 403
    assert json.loads(exc.value.resp_body)["error"]["code"] == "bad_host"


@pytest.mark.parametrize(
    "host",
    [
        "localhost:{port}",
        "LOCALHOST:{port}",
        "localhost",
        "127.0.0.1:{port}",
        "127.0.0.1",
        "127.8.9.10:{port}",
        "[::1]:{port}",
        "[::1]",
    ],
)
def test_loopback_host_is_served(base: str, host: str) -> None:
    r = requests.get(
        f"{base}/api/v1/tasks", headers={"Host": host.format(port=port_of(base))}, timeout=30
    )
    assert r.status_code == 200, r.text


# -- Origin: cross-site form posts and WebSocket hijacking -------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "http://127.0.0.1",
        "http://127.0.0.1:{other}",
        "https://127.0.0.1:{port}",
        "http://localhost:{port}",
        "http://127.0.0.1:{port}.evil.example",
        "http://evil.example#http://127.0.0.1:{port}",
        "http://127.0.0.1:{port}/",
        "garbage",
    ],
)
def test_foreign_origin_cannot_submit(base: str, redis_url: str, origin: str) -> None:
    port = port_of(base)
    r = submit(base, Origin=origin.format(port=port, other=port + 1))
    assert_error(r, 403, "cross_origin")
    assert task_count(redis_url) == 0


def test_foreign_origin_cannot_act_on_a_task_or_lane(base: str, svc) -> None:
    task = svc.submit("prod-eu", "noop")
    evil = {"Origin": "http://evil.example"}
    for action in ("cancel", "skip", "retry"):
        r = requests.post(f"{base}/api/v1/tasks/{task.id}/{action}", headers=evil, timeout=30)
        assert_error(r, 403, "cross_origin")
    r = requests.post(f"{base}/api/v1/deployments/prod-eu/pause", headers=evil, timeout=30)
    assert_error(r, 403, "cross_origin")
    assert svc.store.get(task.id)["status"] == "queued"
    assert svc.deployment("prod-eu")["paused"] is False


def test_same_origin_and_no_origin_can_submit(base: str, redis_url: str) -> None:
    assert submit(base).status_code == 201
    assert submit(base, Origin=base).status_code == 201
    assert submit(base, Origin=base.upper()).status_code == 201
    same_via_localhost = f"http://localhost:{port_of(base)}"
    r = submit(base, Origin=same_via_localhost, Host=f"localhost:{port_of(base)}")
    assert r.status_code == 201, r.text
    assert task_count(redis_url) == 4


def test_get_with_foreign_origin_is_allowed(base: str) -> None:
    """Without CORS headers the page cannot read the answer, and a GET changes nothing."""
    r = requests.get(f"{base}/api/v1/tasks", headers={"Origin": "http://evil.example"}, timeout=30)
    assert r.status_code == 200, r.text
    assert "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "https://127.0.0.1:{port}"])
def test_websocket_with_foreign_origin_is_refused(base: str, origin: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        websocket.create_connection(
            ws_url(base), origin=origin.format(port=port_of(base)), timeout=10
        )
    assert exc.value.status_code == 403
    assert json.loads(exc.value.resp_body)["error"]["code"] == "cross_origin"


@pytest.mark.parametrize("send_origin", [True, False])
def test_websocket_from_same_origin_or_without_origin_works(base: str, send_origin: bool) -> None:
    options = {"origin": base} if send_origin else {"suppress_origin": True}
    ws = websocket.create_connection(ws_url(base), timeout=10, **options)
    try:
        assert json.loads(ws.recv())["type"] == "snapshot"
    finally:
        ws.close()


# -- with tokens: the token is the protection ------------------------------------------


def test_with_tokens_host_and_origin_are_not_checked(with_tokens: str, redis_url: str) -> None:
    """A browser never attaches a Bearer token on its own, so a foreign page has none to use."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = submit(with_tokens, Host="jobs.example.com", Origin="https://portal.example.com", **auth)
    assert r.status_code == 201, r.text
    assert_error(submit(with_tokens, Origin="http://evil.example"), 401, "unauthorized")
    ws = websocket.create_connection(
        ws_url(with_tokens, f"/ws/dashboard?token={TOKEN}"),
        origin="https://portal.example.com",
        timeout=10,
    )
    try:
        assert json.loads(ws.recv())["type"] == "snapshot"
    finally:
        ws.close()
    assert task_count(redis_url) == 1


def raw_request(base: str, head: str) -> bytes:
    """Sends ``head`` as it is (no Host added) and returns the answer (HTTP/1.0: until close)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port_of(base)), timeout=10) as conn:
        conn.sendall(head.encode())
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_without_host_a_request_is_not_from_a_browser(base: str) -> None:
    """Browsers always send Host; an HTTP/1.0 client without one is served, but no page
    origin matches a request that names no host."""
    assert raw_request(base, "GET /api/v1/tasks HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200")
    answer = raw_request(
        base,
        "POST /api/v1/deployments/prod-eu/pause HTTP/1.0\r\n"
        "Origin: http://127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 403") and b'"cross_origin"' in answer
