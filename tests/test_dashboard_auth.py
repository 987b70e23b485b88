"""What the dashboard page needs of the server: a token on a WebSocket without a
URL (``Sec-WebSocket-Protocol``), its own scope (``GET /api/v1/me``), and each
worker's last heartbeat."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
import websocket

from tests.api_client import Api, assert_error
from tests.helpers import wait_until

FULL_TOKEN = "full/secret+token="
READ_TOKEN = "read-only-token"


def bearer_protocol(token: str) -> str:
    """The subprotocol the page offers: the token in unpadded base64url."""
    return "jobsvc.bearer." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def ws_url(base: str, path: str) -> str:
    return base.replace("http", "ws", 1) + path


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "JOBSVC_API_TOKENS": f"ci:{FULL_TOKEN}",
        "JOBSVC_READ_TOKENS": f"viewer:{READ_TOKEN}",
    }


@pytest.mark.parametrize("token", [FULL_TOKEN, READ_TOKEN])
def test_a_websocket_takes_its_token_as_a_subprotocol(web_server: str, token: str) -> None:
    ws = websocket.create_connection(
        ws_url(web_server, "/ws/dashboard"),
        subprotocols=["jobsvc", bearer_protocol(token)],
        timeout=10,
    )
    try:
        # The server picks the plain protocol: the token is never echoed back.
        assert ws.getsubprotocol() == "jobsvc"
        assert '"snapshot"' in ws.recv()
    finally:
        ws.close()


@pytest.mark.parametrize(
    "offer",
    [bearer_protocol("wrong-token"), "jobsvc.bearer.%%%", "jobsvc.bearer.", "jobsvc.bearer.__8"],
)
def test_a_bad_subprotocol_token_is_refused_before_the_upgrade(web_server: str, offer: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            ws_url(web_server, "/ws/dashboard"), subprotocols=["jobsvc", offer], timeout=10
        )
    assert refused.value.status_code == 401


def test_the_subprotocol_token_counts_on_websockets_only_as_a_header_would(
    web_server: str,
) -> None:
    """A read token in the subprotocol header still may not write."""
    api = Api(web_server)
    r = api.post(
        "/deployments/a/pause", headers={"Sec-WebSocket-Protocol": bearer_protocol(READ_TOKEN)}
    )
    assert_error(r, 403, "forbidden")


@pytest.mark.parametrize(
    ("token", "scope", "name"), [(FULL_TOKEN, "full", "ci"), (READ_TOKEN, "read", "viewer")]
)
def test_me_names_the_tokens_scope(web_server: str, token: str, scope: str, name: str) -> None:
    r = Api(web_server, token).get("/me")
    assert r.status_code == 200
    assert r.json() == {"scope": scope, "tokenName": name, "authRequired": True}


def test_me_without_a_token_is_401(web_server: str) -> None:
    assert_error(Api(web_server).get("/me"), 401, "unauthorized")


class TestLoopback:
    @pytest.fixture
    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in env.items() if not k.endswith("_TOKENS")}

    def test_me_on_loopback_is_full_with_no_token(self, web_server: str) -> None:
        r = Api(web_server).get("/me")
        assert r.json() == {"scope": "full", "tokenName": None, "authRequired": False}

    def test_stats_give_each_workers_last_heartbeat(self, web_server: str, make_worker) -> None:
        make_worker()
        api = Api(web_server)
        workers = wait_until(lambda: api.get("/stats").json()["workers"], what="a worker")
        beat = workers[0]["lastHeartbeat"]
        assert beat.endswith("Z")
        at = datetime.strptime(beat, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert abs((datetime.now(timezone.utc) - at).total_seconds()) < 60
