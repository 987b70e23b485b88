"""The two sides of the benchmark, behind one interface.

``JobsvcSide`` goes through jobsvc's Python API and ``jobsvc worker``;
``RQSide`` through ``rq.Queue`` and ``rq worker``.  Both use the JSON
serializer, and the same worker class: RQ's non-forking ``SimpleWorker``
(``simple``) or its forking ``Worker`` (``fork``, what users run by default).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol

import redis
from rq import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer

import bench.step_tasks  # noqa: F401  (registers steps_n: the bench's submits accept it)
from bench import rqjobs
from bench.harness import ROOT, worker_env
from jobsvc import keys
from jobsvc.service import Service
from jobsvc.settings import Settings

# How long one latency sample may take to start and to end, in seconds.
SAMPLE_TIMEOUT_S = 30
# Pause after a latency sample ends, so the next one finds the worker blocked and idle.
IDLE_GAP_S = 0.01
ENDED = {"completed", "failed", "canceled", "skipped"}
RQ_QUEUE = "bench"
# A pipeline per this many RQ enqueues while preloading (not timed).
PRELOAD_BATCH = 500
# ``--worker-class`` of ``rq worker`` for each of jobsvc's worker classes.
RQ_WORKER_CLASSES = {"simple": "rq.worker.SimpleWorker", "fork": "rq.worker.Worker"}


class Side(Protocol):
    """What a phase needs from one system."""

    name: str
    harness_zcards: int

    def submit_one(self, i: int) -> str: ...
    def preload(self, n: int) -> None: ...
    def worker_argv(self, burst: bool, worker_class: str = "simple") -> list[str]: ...
    def progress(self) -> tuple[int, int]: ...
    def drop_live_streams(self) -> int: ...
    def latency_sample(self, i: int) -> float: ...


def jobsvc_cli_works() -> bool:
    """Whether ``python -m jobsvc`` imports (others may be editing the CLI)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import jobsvc.cli"],
        cwd=ROOT,
        env=worker_env("redis://unused"),
        capture_output=True,
    )
    return probe.returncode == 0


class JobsvcSide:
    name = "jobsvc"

    def __init__(self, url: str, deployments: int, use_cli: bool):
        self.svc = Service(url, Settings.from_env({"JOBSVC_REDIS_URL": url}))
        self.client = self.svc.store.client
        self.deployments = deployments
        self.use_cli = use_cli
        self.harness_zcards = 0

    def deployment(self, i: int) -> str:
        return f"dep-{i % self.deployments}"

    def submit_one(self, i: int) -> str:
        return self.svc.submit(self.deployment(i), "noop", {}).id

    def preload(self, n: int) -> None:
        for i in range(n):
            self.submit_one(i)

    def worker_argv(self, burst: bool, worker_class: str = "simple") -> list[str]:
        flag = ["--burst"] if burst else []
        if self.use_cli:
            return ["jobsvc", "worker", "--pool", "standard", "--worker-class", worker_class, *flag]
        return ["bench.jobsvc_worker", "standard", worker_class, *flag]

    def drop_live_streams(self) -> int:
        """Deletes the lanes' event streams, as their expiry (JOBSVC_EVENTS_TTL_S) would."""
        names = list(self.client.scan_iter(match=keys.lane_events("*"), count=1000))
        for i in range(0, len(names), 1000):
            self.client.delete(*names[i : i + 1000])
        return len(names)

    def progress(self) -> tuple[int, int]:
        """(completed, failed), read with two ZCARDs the harness accounts for."""
        self.harness_zcards += 2
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.by_status("completed"))
            pipe.zcard(keys.by_status("failed"))
            done, failed = pipe.execute()
        return done, failed

    def latency_sample(self, i: int) -> float:
        """Seconds from just before submit to the attempt's start, both on Redis' clock."""
        before_us = self.svc.store.redis_now_us()
        task_id = self.submit_one(i)
        stream = keys.lane_events(self.deployment(i))
        last = self._wait_status(stream, task_id, "0", {"running"} | ENDED)
        started = self.svc.get(task_id).data["startedAt"]
        self._wait_status(stream, task_id, last, ENDED)
        time.sleep(IDLE_GAP_S)
        return (_iso_us(started) - before_us) / 1e6

    def _wait_status(self, stream: str, task_id: str, after: str, wanted: set[str]) -> str:
        """Blocks on the task's lane's event stream until a status of the task in
        ``wanted``; returns its id."""
        deadline = time.monotonic() + SAMPLE_TIMEOUT_S
        while time.monotonic() < deadline:
            reply: list = self.client.xread({stream: after}, block=1000) or []  # type: ignore[assignment]
            for _, entries in reply:
                for entry_id, fields in entries:
                    after = entry_id
                    if (
                        fields.get("task") == task_id
                        and fields.get("type") == "status"
                        and json.loads(fields["data"])["status"] in wanted
                    ):
                        return entry_id
        raise TimeoutError(f"task {task_id} reached none of {sorted(wanted)}")


class StepsSide(JobsvcSide):
    """jobsvc running ``steps_n`` tasks of ``steps`` no-op steps each
    (bench/step_tasks.py, which its workers load): the cost of steps."""

    # What the workers of this side need besides worker_env().
    WORKER_ENV = {"JOBSVC_TASK_MODULES": "bench.step_tasks"}

    def __init__(self, url: str, deployments: int, use_cli: bool, steps: int):
        super().__init__(url, deployments, use_cli)
        self.steps = steps
        self.name = f"jobsvc, {steps}-step tasks"

    def submit_one(self, i: int) -> str:
        return self.svc.submit(self.deployment(i), "steps_n", {"steps": self.steps}).id


class RQSide:
    name = "RQ"

    def __init__(self, url: str):
        self.url = url
        self.conn = redis.Redis.from_url(url)
        self.queue = Queue(RQ_QUEUE, connection=self.conn, serializer=JSONSerializer)
        self.finished_key = FinishedJobRegistry(RQ_QUEUE, connection=self.conn).key
        self.failed_key = FailedJobRegistry(RQ_QUEUE, connection=self.conn).key
        self.harness_zcards = 0

    def submit_one(self, i: int) -> str:
        return self.queue.enqueue("bench.rqjobs.noop").id

    def preload(self, n: int) -> None:
        """The same enqueue as ``submit_one``, pipelined to save time (not measured)."""
        for start in range(0, n, PRELOAD_BATCH):
            with self.conn.pipeline(transaction=False) as pipe:
                for _ in range(min(PRELOAD_BATCH, n - start)):
                    self.queue.enqueue_call("bench.rqjobs.noop", pipeline=pipe)
                pipe.execute()

    def worker_argv(self, burst: bool, worker_class: str = "simple") -> list[str]:
        flag = ["--burst"] if burst else []
        return [
            "rq.cli",
            "worker",
            *flag,
            "--worker-class",
            RQ_WORKER_CLASSES[worker_class],
            "--serializer",
            "rq.serializers.JSONSerializer",
            "-u",
            self.url,
            "--logging_level",
            "WARNING",
            RQ_QUEUE,
        ]

    def drop_live_streams(self) -> int:
        return 0  # RQ keeps no event stream

    def progress(self) -> tuple[int, int]:
        self.harness_zcards += 2
        with self.conn.pipeline(transaction=False) as pipe:
            pipe.zcard(self.finished_key)
            pipe.zcard(self.failed_key)
            done, failed = pipe.execute()
        return done, failed

    def latency_sample(self, i: int) -> float:
        sec, usec = self.conn.time()
        before_us = sec * 1_000_000 + usec
        job = self.queue.enqueue("bench.rqjobs.record_start")
        popped = self.conn.blpop([rqjobs.STARTED_KEY], timeout=SAMPLE_TIMEOUT_S)
        if popped is None:
            raise TimeoutError(f"RQ job {job.id} did not start")
        job_id, started_us = popped[1].decode().split()  # type: ignore[union-attr]
        assert job_id == job.id, (job_id, job.id)
        if job.latest_result(timeout=SAMPLE_TIMEOUT_S) is None:
            raise TimeoutError(f"RQ job {job.id} did not end")
        time.sleep(IDLE_GAP_S)
        return (int(started_us) - before_us) / 1e6


def _iso_us(text: str) -> int:
    """``2026-11-25T10:00:00.123456Z`` -> microseconds since the epoch, exactly."""
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return (dt - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
