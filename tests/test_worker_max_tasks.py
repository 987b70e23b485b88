"""`jobsvc worker --max-tasks N` (and `python worker.py`): a real worker process runs
N task dispatches, exits 0, and leaves the next task queued; the scheduler's
maintenance jobs do not count."""

from __future__ import annotations

import os
import subprocess
import sys

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from jobsvc.dispatch import MAINTENANCE_QUEUE, TaskJob
from tests.helpers import ROOT, wait_until


def start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "worker.py", "--worker-class", "simple", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        start_new_session=True,
    )


def maintenance_jobs(redis_url: str, path: str, n: int) -> None:
    """``n`` jobs on the maintenance queue, as the scheduler's are: served before any task."""
    queue = Queue(
        MAINTENANCE_QUEUE,
        connection=redis.Redis.from_url(redis_url),
        job_class=TaskJob,
        serializer=JSONSerializer,
    )
    for _ in range(n):
        queue.enqueue("tests.task_types.maintenance_probe", path)


def statuses(svc, ids: list[str]) -> list[str]:
    return sorted(svc.get(tid).status for tid in ids)


def test_a_worker_stops_after_n_tasks_and_maintenance_jobs_do_not_count(
    env, svc, redis_url, tmp_path
):
    probe = tmp_path / "maintenance"
    maintenance_jobs(redis_url, str(probe), 3)
    ids = [svc.submit(f"lane-{i}", "noop").id for i in range(3)]
    worker = start(env, "--max-tasks", "2")
    try:
        assert worker.wait(60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert probe.read_text() == "ran\n" * 3  # all ran, before the tasks
    assert statuses(svc, ids) == ["completed", "completed", "queued"]
    waiting = next(tid for tid in ids if svc.get(tid).status == "queued")
    assert svc.store.dispatcher.in_queue(waiting, "standard", "medium")


def test_max_tasks_holds_for_each_process_of_count(env, svc):
    ids = [svc.submit(f"lane-{i}", "noop").id for i in range(3)]
    worker = start(env, "--count", "2", "--max-tasks", "1")
    try:
        assert worker.wait(60) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, 9)
    assert statuses(svc, ids) == ["completed", "completed", "queued"]


def test_a_worker_without_max_tasks_goes_on(env, svc):
    """The count is the option's: without it a worker runs every task and stays."""
    ids = [svc.submit(f"lane-{i}", "noop").id for i in range(3)]
    worker = start(env)
    try:
        wait_until(lambda: statuses(svc, ids) == ["completed"] * 3, 30, "every task to run")
        assert worker.poll() is None
    finally:
        os.killpg(worker.pid, 9)
        worker.wait(10)
