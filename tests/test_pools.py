"""Pools: the built-in pools' timeouts, a long task on a worker of the long pool
while standard tasks in other lanes complete, and the workers per pool in
`jobsvc status` (real workers of both pools, a real Redis)."""

from __future__ import annotations

import json

import pytest

from jobsvc.dispatch import pool_of
from jobsvc.policy import pool_timeout_s
from jobsvc.types import registry
from tests.helpers import jobsvc, wait_ended, wait_until


@pytest.fixture
def registered():
    """Names registered by a test, removed from the registry after it."""
    names: list[str] = []
    yield names
    for name in names:
        registry._TYPES.pop(name, None)


@pytest.mark.parametrize(
    "pool, timeout, expected",
    [("standard", None, 600), ("long", None, 6 * 3600), ("long", 900, 900), ("gpu", None, 600)],
)
def test_a_type_without_a_timeout_takes_its_pools(registered, pool, timeout, expected):
    name = f"pool-test-{pool}-{timeout}"
    registered.append(name)
    options = {} if timeout is None else {"timeout": timeout}
    registry.task(name, pool=pool, **options)(lambda ctx, payload: None)
    assert registry.get(name).timeout == expected
    assert registry.get(name).pool == pool


def test_pool_timeouts_are_the_contracts():
    assert pool_timeout_s("standard") == 600
    assert pool_timeout_s("long") == 6 * 3600
    assert pool_timeout_s("anything-else") == pool_timeout_s("standard")


def test_a_workers_pool_is_read_back_from_its_queues():
    assert pool_of(["maintenance", "critical-long", "high-long"]) == "long"
    assert pool_of(["maintenance", "medium-gpu.a-1"]) == "gpu.a-1"
    assert pool_of(["default"]) is None
    assert pool_of(["maintenance"]) is None


def test_a_long_task_runs_on_the_long_worker_while_standard_lanes_go_on(
    env, svc, make_worker, tmp_path
):
    make_worker(pool="long")
    make_worker(pool="standard")
    wait_until(lambda: "migrate" in svc.store.offered_types(), what="the long worker's offer")
    release = tmp_path / "release"
    long_task = svc.submit("prod-db", "migrate", {"path": str(release)})
    wait_until(lambda: svc.get(long_task.id).status == "running", what="the migration to run")
    running = svc.get(long_task.id).data
    assert running["pool"] == "long" and running["timeoutS"] == 6 * 3600

    quick = [svc.submit(f"prod-{i}", "echo", {"lines": [str(i)]}) for i in range(3)]
    for task in quick:
        assert wait_ended(svc, task.id)["status"] == "completed"
    assert svc.get(long_task.id).status == "running"

    workers = svc.stats()["workers"]
    long_workers = [w for w in workers if w["pool"] == "long"]
    assert [(w["state"], w["currentJobId"]) for w in long_workers] == [("busy", long_task.id)]
    assert [w["state"] for w in workers if w["pool"] == "standard"] == ["idle"]

    out = jobsvc(env, "status")
    assert out.returncode == 0, out.stderr
    assert "long             busy=1  idle=0" in out.stdout, out.stdout
    assert "standard         busy=0  idle=1" in out.stdout, out.stdout
    assert f"running {long_task.id}" in out.stdout
    status = json.loads(jobsvc(env, "status", "--json").stdout)
    assert status["pools"] == {"long": {"busy": 1, "idle": 0}, "standard": {"busy": 0, "idle": 1}}

    release.touch()
    assert wait_ended(svc, long_task.id)["status"] == "completed"


def test_a_long_task_waits_for_a_long_worker(svc, make_worker, tmp_path):
    """Standard workers never take a task of the long pool."""
    task = svc.submit("prod-db", "migrate", {"path": str(tmp_path / "never")})
    make_worker(pool="standard")
    done = svc.submit("prod-web", "noop")
    assert wait_ended(svc, done.id)["status"] == "completed"
    assert svc.get(task.id).status == "queued"
