"""A small HTTP client for the API tests, and a way to serve any app over loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import requests
from flask import Flask
from werkzeug.serving import make_server

from jobsvc import keys
from jobsvc.processes.redis_server import free_port
from jobsvc.states import Status

PREFIX = "/api/v1"


class Api:
    """requests against one server, paths relative to ``/api/v1``."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/healthz") else PREFIX + path)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), timeout=30, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url(path), json=json, timeout=30, **kwargs)

    def submit(self, deployment: str, type_: str = "noop", expect: int = 201, **body: Any) -> dict:
        """Submits and returns the task JSON, checking the status code."""
        r = self.post(f"/deployments/{deployment}/tasks", json={"type": type_, **body})
        assert r.status_code == expect, r.text
        return r.json()["task"]

    def task(self, task_id: str) -> dict:
        r = self.get(f"/tasks/{task_id}")
        assert r.status_code == 200, r.text
        return r.json()["task"]


def assert_error(
    r: requests.Response, status: int, code: str | None = None, field: str | None = None
) -> dict:
    """The response is the contract's JSON error with this status (and code, field)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    error = r.json()["error"]
    assert isinstance(error["code"], str) and error["code"].islower(), error
    assert isinstance(error["message"], str) and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error.get("field") == field, error
    return error


def task_count(redis_url: str) -> int:
    """How many tasks were ever accepted: what a refused submission must leave at 0."""
    client = redis.Redis.from_url(redis_url)
    return sum(client.zcard(keys.by_status(s.value)) for s in Status)


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serves ``app`` on a free loopback port, like the ``web_server`` fixture."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
