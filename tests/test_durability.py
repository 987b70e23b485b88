"""Redis restarts, and detection times with the default settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import redis

from jobsvc.processes.check import redis_warnings
from jobsvc.processes.reconcile import reconcile_all
from jobsvc.service import Service
from jobsvc.settings import Settings
from jobsvc.store import open_store
from tests.conftest import ROOT
from tests.helpers import wait_until


def answering(svc: Service):
    try:
        return svc.store.client.ping()
    except redis.RedisError:
        return False


def test_tasks_survive_a_redis_crash_and_none_stays_stuck(aof_redis, env, make_worker):
    env = {**env, "JOBSVC_REDIS_URL": aof_redis.url}
    svc = Service(aof_redis.url, Settings.from_env(env))
    ids = [svc.submit(f"lane-{i % 5}", "sleep", {"seconds": 0.2}, retries=2).id for i in range(30)]
    make_worker(JOBSVC_REDIS_URL=aof_redis.url)
    make_worker(JOBSVC_REDIS_URL=aof_redis.url)
    wait_until(
        lambda: svc.stats()["byStatus"]["completed"] >= 5, timeout=60, what="some tasks to complete"
    )
    aof_redis.kill()
    aof_redis.start()  # same port, same data dir: the AOF is replayed
    wait_until(lambda: answering(svc), what="Redis to answer again")
    assert len(svc.store.get_many(ids)) == 30 and all(svc.store.get_many(ids))

    def all_completed():
        reconcile_all(svc.store, orphan_grace_s=1.0)  # what the scheduler does periodically
        return all(t["status"] == "completed" for t in svc.store.get_many(ids))

    wait_until(all_completed, timeout=90, what="every task to complete", interval=0.5)


def test_check_warns_only_without_persistence(aof_redis, redis_url):
    assert redis_warnings(open_store(Settings(), aof_redis.url)) == []
    warnings = redis_warnings(open_store(Settings(), redis_url))
    assert any("persistence is off" in w for w in warnings)


def test_lost_worker_is_detected_within_30s_with_default_settings(env, make_worker, tmp_path):
    defaults = {k: v for k, v in env.items() if k not in ("JOBSVC_LEASE_S", "JOBSVC_BACKOFF_S")}
    svc = Service(env["JOBSVC_REDIS_URL"], Settings.from_env(defaults))
    assert (svc.settings.lease_s, svc.settings.reconcile_s) == (15.0, 10.0)
    scheduler = subprocess.Popen(
        [sys.executable, "scheduler.py"],
        cwd=ROOT,
        env={**os.environ, **defaults, "TZ": "UTC"},
        start_new_session=True,
    )
    try:
        t = svc.submit("prod-eu", "wait_file", {"path": str(tmp_path / "never")})
        doomed = make_worker(JOBSVC_LEASE_S="15")
        wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
        make_worker(JOBSVC_LEASE_S="15")  # serves the maintenance queue meanwhile
        os.killpg(doomed.pid, signal.SIGKILL)
        done = svc.wait(t.id, timeout=30)
        assert done.status == "failed" and done.error["reason"] == "worker_lost"
    finally:
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait(10)
