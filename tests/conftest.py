"""Fixtures: real redis-server processes, real workers, a real HTTP server.

One redis-server per test session, on a free port with its own data dir,
flushed before every test that uses it.  Workers are real ``jobsvc worker``
processes; the web app is served over loopback by a real HTTP server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from werkzeug.serving import make_server

from jobsvc.processes.redis_server import RedisServer, free_port
from jobsvc.service import Service
from jobsvc.settings import Settings
from tests import processes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=False)
    with server:
        yield server


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own with AOF (appendfsync always), to kill and restart."""
    server = RedisServer(tmp_path / "aof", appendonly=True, appendfsync="always").start()
    yield server
    server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def env(redis_url: str) -> dict[str, str]:
    """The JOBSVC_* environment of this test's processes; tests may add to it."""
    return {
        "JOBSVC_REDIS_URL": redis_url,
        "JOBSVC_TASK_MODULES": "tests.task_types",
        "JOBSVC_LEASE_S": "3",
        "JOBSVC_BACKOFF_S": "0.05",
        "JOBSVC_CANCEL_WAIT_S": "10",
        "JOBSVC_SHELL_ALLOWLIST": '{"greet": ["echo", "hello", "{name}"], "false": ["false"]}',
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


@pytest.fixture
def svc(redis_url: str, settings: Settings) -> Service:
    return Service(redis_url, settings)


@pytest.fixture
def make_worker(env: dict[str, str]) -> Iterator:
    """Starts ``jobsvc worker`` processes; stops them after the test."""
    procs: list[subprocess.Popen] = []

    def start(
        pool: str = "standard", worker_class: str = "simple", **extra: str
    ) -> subprocess.Popen:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobsvc",
                "worker",
                "--pool",
                pool,
                "--worker-class",
                worker_class,
            ],
            cwd=ROOT,
            env={**os.environ, **env, **extra},
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture
def marker() -> Iterator[str]:
    """A marker every process of the test carries (``tests.processes``); whatever
    still carries it after the test is killed."""
    value = processes.new_marker()
    yield value
    processes.kill_all(value)


@pytest.fixture
def web_server(settings: Settings) -> Iterator[str]:
    """The web app over a real loopback HTTP server; yields its base URL."""
    from jobsvc.web import create_app

    app = create_app(settings)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
