"""The processes ``bench/viewers.py`` measures: Redis, 50 workers, one web process.

Every process is started in a session of its own and killed by process group
in ``Stack.stop``, which the driver calls from ``finally``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis
import requests

from jobsvc import keys
from jobsvc.processes.redis_server import RedisServer, free_port
from jobsvc.service import Service
from jobsvc.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TASK_MODULE = "bench.viewer_tasks"
# Seconds SIGTERM/SIGINT gets before a process group is killed outright.
STOP_GRACE_S = 3.0


class Stack:
    def __init__(self, tmp: Path, workers: int, threads: int, whatif: bool = False):
        self.tmp, self.workers, self.threads, self.whatif = tmp, workers, threads, whatif
        self.redis = RedisServer(tmp / "redis", appendonly=False)
        self.port = free_port()
        self.procs: list[tuple[subprocess.Popen, int]] = []
        self.web: subprocess.Popen | None = None
        self.worker_tree: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "JOBSVC_REDIS_URL": self.redis.url,
            "JOBSVC_TASK_MODULES": TASK_MODULE,
            "PYTHONPATH": str(ROOT),
            "JOBSVC_DATA_DIR": str(self.tmp / "data"),
        }

    def spawn(self, name: str, argv: list[str], stop_signal: int, **env: str) -> subprocess.Popen:
        out = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115  (the child owns it)
        proc = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env={**self.env(), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.procs.append((proc, stop_signal))
        return proc

    def start(self) -> None:
        self.redis.start()
        # Workers stop warm on SIGTERM (they would finish a 10-minute ticker): kill them.
        self.worker_tree = self.spawn(
            "workers",
            [
                "-m",
                "jobsvc",
                "worker",
                "--pool",
                "standard",
                "--count",
                str(self.workers),
                "--worker-class",
                "simple",
            ],
            signal.SIGKILL,
        )
        # SIGINT is gunicorn's quick shutdown.
        self.web = self.spawn(
            "web",
            self.web_argv(),
            signal.SIGINT,
            WEB_CONCURRENCY="1",
            JOBSVC_HOST="127.0.0.1",
            PORT=str(self.port),
            JOBSVC_WEB_THREADS=str(self.threads),
        )

    def web_argv(self) -> list[str]:
        """``jobsvc web`` itself, or (what-if) the same gunicorn with bench.viewer_whatif."""
        if self.whatif:
            return ["-m", "gunicorn", "-c", "python:bench.viewer_whatif", "jobsvc.web:create_app()"]
        return [
            "-m",
            "jobsvc",
            "web",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
        ]

    def stop(self) -> None:
        for proc, sig in reversed(self.procs):
            kill_group(proc, sig)
        self.redis.kill()

    # -- what the driver needs from the running stack ------------------------------

    def service(self) -> Service:
        return Service(self.redis.url, Settings.from_env(self.env()))

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url, decode_responses=True)

    def wait_web(self, task_id: str, deadline: float) -> psutil.Process:
        """Waits until the API answers; returns the one gunicorn worker process."""
        while time.monotonic() < deadline:
            if self.web is not None and self.web.poll() is not None:
                raise RuntimeError(f"web exited ({self.web.returncode}); see {self.tmp}/web.log")
            try:
                if requests.get(f"{self.base}/api/v1/tasks/{task_id}", timeout=2).ok:
                    return self.web_worker()
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("the web process did not answer in time")

    def web_worker(self) -> psutil.Process:
        assert self.web is not None
        children = psutil.Process(self.web.pid).children()
        if len(children) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {len(children)}")
        return children[0]

    def worker_processes(self) -> list[psutil.Process]:
        assert self.worker_tree is not None
        root = psutil.Process(self.worker_tree.pid)
        return [root, *root.children(recursive=True)]

    def redis_process(self) -> psutil.Process:
        assert self.redis.process is not None
        return psutil.Process(self.redis.process.pid)

    def last_ids(self, task_ids: list[str]) -> dict[str, str]:
        """Each task's newest event id (``0`` when it has none): where a viewer joins."""
        pipe = self.client().pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hget(keys.task(task_id), "evN")
        return {tid: (last or "0") for tid, last in zip(task_ids, pipe.execute())}

    def lines_written(self, task_ids: list[str]) -> int:
        """Entries in the tickers' lanes' streams so far (one ticker per lane, well
        under the stream's MAXLEN here)."""
        pipe = self.client().pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hget(keys.task(task_id), "deployment")
        lanes = pipe.execute()
        for deployment in lanes:
            pipe.xlen(keys.lane_events(deployment))
        return sum(pipe.execute())


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def submit_tickers(svc: Service, count: int, seconds: float) -> list[str]:
    return [svc.submit(f"view-{i:02d}", "ticker", {"seconds": seconds}).id for i in range(count)]


def wait_running(svc: Service, task_ids: list[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        states = [svc.get(tid).status for tid in task_ids]
        if all(s == "running" for s in states):
            return
        if any(s not in ("queued", "running") for s in states):
            raise RuntimeError(f"a ticker ended early: {sorted(set(states))}")
        time.sleep(0.25)
    running = sum(svc.get(tid).status == "running" for tid in task_ids)
    raise RuntimeError(f"only {running}/{len(task_ids)} tickers running by the deadline")


def process_clients(client: redis.Redis, proc: psutil.Process, redis_port: int) -> list[dict]:
    """The ``CLIENT LIST`` entries of ``proc``'s connections to Redis.

    Attributed by port: an entry belongs to the process when its source port
    is a local port of one of the process's sockets to Redis.
    """
    ports = {
        c.laddr.port
        for c in proc.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == redis_port
    }
    return [c for c in client.client_list() if int(c["addr"].rsplit(":", 1)[1]) in ports]


def redis_conns(client: redis.Redis, proc: psutil.Process, redis_port: int) -> tuple[int, int]:
    """(relay connections, all connections) that ``proc`` holds to Redis."""
    mine = process_clients(client, proc, redis_port)
    relay = f"jobsvc-relay-{proc.pid}-"
    return sum(c["name"].startswith(relay) for c in mine), len(mine)
