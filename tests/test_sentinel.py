"""A JOBSVC_REDIS_URL naming a Redis Sentinel reaches the master it monitors."""

from __future__ import annotations

import subprocess

import pytest

from jobsvc.processes.redis_server import find_binary, free_port
from jobsvc.service import Service
from tests.helpers import wait_until


@pytest.fixture
def sentinel(redis_server, tmp_path):
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {redis_server.port} 1\n"
    )
    proc = subprocess.Popen(
        [find_binary(), str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield f"redis+sentinel://127.0.0.1:{port}/mymaster"
    proc.kill()
    proc.wait(10)


def test_service_through_sentinel_uses_the_master(sentinel, redis_url, settings):
    def connected():
        try:
            return Service(sentinel, settings).submit("prod-eu", "noop")
        except Exception:  # noqa: BLE001  (the sentinel may still be starting)
            return None

    task = wait_until(connected, timeout=15, what="the sentinel to answer", interval=0.2)
    direct = Service(redis_url, settings)
    assert direct.get(task.id).status == "queued"
