"""Bearer tokens and the loopback-only rule, in the app and in gunicorn's start hook."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest

from jobsvc.processes import gunicorn_conf
from jobsvc.settings import Settings
from jobsvc.web import create_app
from tests.api_client import Api, assert_error, task_count

FULL_TOKEN = "full-secret-token"
READ_TOKEN = "read-only-token"
SUBMIT = "/deployments/prod-eu/tasks"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "JOBSVC_API_TOKENS": f"ci:{FULL_TOKEN}",
        "JOBSVC_READ_TOKENS": f"viewer:{READ_TOKEN}",
    }


@pytest.fixture
def anonymous(web_server: str) -> Api:
    return Api(web_server)


@pytest.fixture
def full(web_server: str) -> Api:
    return Api(web_server, FULL_TOKEN)


@pytest.fixture
def reader(web_server: str) -> Api:
    return Api(web_server, READ_TOKEN)


# -- tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/tasks",
        "/stats",
        "/deployments",
        "/deployments/x",
        "/tasks/0123456789abcdef",
        "/no-such-endpoint",
    ],
)
def test_missing_token_answers_401(anonymous: Api, path: str) -> None:
    r = anonymous.get(path)
    assert_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wrong",
        f"Bearer {FULL_TOKEN}x",
        f"Basic {FULL_TOKEN}",
        FULL_TOKEN,
        "Bearer",
        "Bearer ",
        "Bearer t\u00e9st",
    ],
)
def test_bad_token_answers_401(anonymous: Api, redis_url: str, header: str) -> None:
    headers = {"Authorization": header.encode()}
    assert_error(anonymous.get("/tasks", headers=headers), 401, "unauthorized")
    r = anonymous.post(SUBMIT, json={"type": "noop"}, headers=headers)
    assert_error(r, 401, "unauthorized")
    assert task_count(redis_url) == 0


def test_full_token_reads_and_writes(full: Api) -> None:
    task = full.submit("prod-eu")
    assert full.task(task["id"])["id"] == task["id"]
    assert full.post(f"/tasks/{task['id']}/cancel").status_code == 200


def test_read_token_reads_but_cannot_write(full: Api, reader: Api, redis_url: str) -> None:
    task = full.submit("prod-eu")
    assert reader.get(f"/tasks/{task['id']}").status_code == 200
    assert reader.get("/tasks").status_code == 200
    assert reader.get("/stats").status_code == 200
    assert reader.get(f"/tasks/{task['id']}/log").status_code == 200
    assert_error(reader.post(SUBMIT, json={"type": "noop"}), 403, "forbidden")
    for action in ("cancel", "skip", "retry"):
        assert_error(reader.post(f"/tasks/{task['id']}/{action}"), 403, "forbidden")
    assert_error(reader.post("/deployments/prod-eu/pause"), 403, "forbidden")
    assert task_count(redis_url) == 1
    assert full.task(task["id"])["status"] == "queued"


def test_token_in_query_string_is_accepted(anonymous: Api) -> None:
    assert anonymous.get("/tasks", params={"token": FULL_TOKEN}).status_code == 200
    assert_error(anonymous.get("/tasks", params={"token": "wrong"}), 401, "unauthorized")


def test_bearer_scheme_is_case_insensitive(anonymous: Api) -> None:
    r = anonymous.get("/tasks", headers={"Authorization": f"bearer {FULL_TOKEN}"})
    assert r.status_code == 200


def test_healthz_needs_no_token(anonymous: Api) -> None:
    r = anonymous.get("/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True}


# -- no tokens: loopback only ----------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "status"),
    [
        ("127.0.0.1", 200),
        ("127.8.9.10", 200),
        ("::1", 200),
        ("::ffff:127.0.0.1", 200),
        ("10.0.0.5", 403),
        ("192.168.1.2", 403),
        ("::ffff:10.0.0.5", 403),
        ("2001:db8::1", 403),
    ],
)
def test_without_tokens_only_loopback_clients_are_served(
    settings: Settings, remote: str, status: int
) -> None:
    app = create_app(Settings.from_env({"JOBSVC_REDIS_URL": settings.redis_url or ""}))
    r = app.test_client().get("/api/v1/tasks", environ_base={"REMOTE_ADDR": remote})
    assert r.status_code == status, r.get_data(as_text=True)
    if status == 403:
        assert r.get_json()["error"]["code"] == "forbidden"
    health = app.test_client().get("/healthz", environ_base={"REMOTE_ADDR": remote})
    assert health.status_code == 200


# -- gunicorn refuses to expose an open API --------------------------------------------


def fake_server(*binds: str) -> SimpleNamespace:
    return SimpleNamespace(cfg=SimpleNamespace(bind=list(binds)))


@pytest.fixture
def no_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBSVC_API_TOKENS", raising=False)
    monkeypatch.delenv("JOBSVC_READ_TOKENS", raising=False)


@pytest.mark.parametrize(
    "binds",
    [
        ["0.0.0.0:8000"],
        ["127.0.0.1:8000", "0.0.0.0:8001"],
        ["[::]:8000"],
        ["192.168.1.2:80"],
        [":8000"],
        ["example.com:8000"],
        ["fd://3"],
        ["tcp://10.0.0.1:8000"],
    ],
)
def test_gunicorn_refuses_non_loopback_bind_without_tokens(
    no_tokens: None, binds: list[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        gunicorn_conf.on_starting(fake_server(*binds))
    message = str(exc.value.code)
    assert message.startswith("jobsvc web: refusing to listen on") and "\n" not in message
    assert "JOBSVC_API_TOKENS" in message


@pytest.mark.parametrize(
    "binds",
    [
        ["127.0.0.1:8000"],
        ["[::1]:8000"],
        ["localhost:8000"],
        ["127.0.0.2:9000"],
        ["unix:/tmp/jobsvc.sock"],
        ["127.0.0.1:8000", "[::1]:8000"],
    ],
)
def test_gunicorn_starts_on_loopback_without_tokens(no_tokens: None, binds: list[str]) -> None:
    gunicorn_conf.on_starting(fake_server(*binds))


def test_gunicorn_starts_anywhere_with_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBSVC_API_TOKENS", "ci:secret")
    gunicorn_conf.on_starting(fake_server("0.0.0.0:8000"))


def test_gunicorn_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBSVC_WEB_THREADS", "8")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("JOBSVC_HOST", "::1")
    monkeypatch.setenv("PORT", "9123")
    conf = importlib.reload(gunicorn_conf)
    try:
        assert (conf.worker_class, conf.threads, conf.workers) == ("gthread", 8, 3)
        assert conf.bind == ["[::1]:9123"]
    finally:
        monkeypatch.undo()
        importlib.reload(gunicorn_conf)


def test_gunicorn_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("JOBSVC_WEB_THREADS", "WEB_CONCURRENCY", "JOBSVC_HOST", "PORT"):
        monkeypatch.delenv(var, raising=False)
    conf = importlib.reload(gunicorn_conf)
    assert (conf.threads, conf.workers, conf.bind) == (1024, 2, ["127.0.0.1:8000"])
