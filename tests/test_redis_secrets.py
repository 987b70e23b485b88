"""The service's own secrets: Redis passwords never printed, `jobsvc up`'s Redis locked.

Whoever reaches the Redis runs code as the service's user (RQ imports any
dotted function name a job names), so `jobsvc up`'s Redis needs a password,
and no command may print one.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from jobsvc.processes.redis_server import RedisServer, free_port
from tests.conftest import ROOT
from tests.helpers import wait_until

PASSWORD = "pw-Kq8s3cr3t-do-not-print"


def run_cli(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobsvc", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any JOBSVC_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSVC_")}
    return {**env, **extra}


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server with ``requirepass``, persistent, no eviction; yields its URL."""
    with RedisServer(tmp_path / "redis", password=PASSWORD) as server:
        yield server.url


def test_check_prints_the_redis_url_with_its_password_masked(password_redis):
    result = run_cli("check", env=clean_env(JOBSVC_REDIS_URL=password_redis))
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert f"ok: {password_redis.replace(PASSWORD, '***')}" in result.stdout


def test_unreachable_redis_is_one_line_naming_the_masked_url():
    url = f"redis://admin:{PASSWORD}@127.0.0.1:{free_port()}/0"
    result = run_cli("status", env=clean_env(JOBSVC_REDIS_URL=url))
    assert result.returncode != 0
    assert PASSWORD not in result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "redis://admin:***@127.0.0.1" in result.stderr


def test_up_locks_its_redis_with_a_generated_password(tmp_path):
    data, port = tmp_path / "data", free_port()
    env = clean_env(JOBSVC_DATA_DIR=str(data))
    log = (tmp_path / "up.log").open("w+")
    up = subprocess.Popen(
        [sys.executable, "-m", "jobsvc", "up", "--port", str(port), "--workers", "1"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url_file = data / "redis.url"
        wait_until(
            lambda: "Ctrl-C stops everything" in Path(log.name).read_text(),
            timeout=60,
            what="jobsvc up's banner",
            interval=0.2,
        )
        url = url_file.read_text().strip()
        assert stat.S_IMODE(url_file.stat().st_mode) == 0o600
        port_of_redis = int(url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port_of_redis).ping()  # no password: NOAUTH
        authed = redis.Redis.from_url(url)
        assert authed.config_get("bind")["bind"] == "127.0.0.1"
        password = authed.config_get("requirepass")["requirepass"]
        assert len(password) >= 32
        status = run_cli("status", env=env, cwd=tmp_path)  # a second terminal finds it
        assert status.returncode == 0, status.stderr
        assert not any(
            password in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
        )
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.wait(60)
    printed = Path(log.name).read_text()
    assert "Redis:" in printed and password not in printed
