"""What both sides of the benchmark share: the Redis, worker processes, Redis figures."""

from __future__ import annotations

import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis

from bench import rtt
from jobsvc.processes.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
# Commands the benchmark itself sends while a phase is measured; not the systems' cost.
HARNESS_COMMANDS = {"info", "config", "flushall", "time", "ping"}
# Seconds a worker gets to exit on SIGTERM before it is killed.
STOP_GRACE_S = 5.0
# How workers are started: ``python -m bench.launch COUNT_FILE MODULE ARGS...``.
LAUNCHER = ("bench.launch",)
ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}")
DEP_RE = re.compile(r"dep-\d+")


class BenchRedis:
    """A private redis-server (no AOF) and the figures read from it."""

    def __init__(self, data_dir: Path):
        self.server = RedisServer(data_dir, appendonly=False)
        self.client = redis.Redis.from_url(self.server.url, decode_responses=True)

    def start(self) -> BenchRedis:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def reset(self) -> None:
        """Empty data and zeroed command counters: every phase starts from here."""
        self.client.flushall()
        self.client.config_resetstat()

    def command_calls(self) -> Counter[str]:
        """Calls per command since the last reset, Lua-issued ones included."""
        stats = self.client.info("commandstats")
        calls = Counter({k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()})
        for name in HARNESS_COMMANDS:
            calls.pop(name, None)
        return calls

    def cpu_seconds(self) -> float:
        """CPU time the redis-server process has used (user + system)."""
        cpu = self.client.info("cpu")
        return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])

    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def memory_by_key_kind(self, names: re.Pattern[str] = DEP_RE) -> Counter[str]:
        """Bytes per key pattern (ids and the deployment ``names`` folded), from
        MEMORY USAGE, one SCAN page at a time: a million keys' names are never
        held at once."""
        sizes: Counter[str] = Counter()
        cursor = None
        while cursor != 0:
            cursor, batch = self.client.scan(cursor or 0, count=1000)
            with self.client.pipeline(transaction=False) as pipe:
                for name in batch:
                    pipe.memory_usage(name, samples=0)
                for name, size in zip(batch, pipe.execute(), strict=True):
                    sizes[names.sub("<dep>", ID_RE.sub("<id>", str(name)))] += size or 0
        return sizes


class Workers:
    """Worker processes, each in its own process group, always stopped on exit."""

    def __init__(self, log_dir: Path, launcher: tuple[str, ...] = LAUNCHER):
        self.log_dir = log_dir
        self.launcher = launcher
        self.procs: list[subprocess.Popen] = []
        self.count_files: list[Path] = []

    def start(self, label: str, module_argv: list[str], env: dict[str, str]) -> None:
        n = len(self.procs)
        count_file = self.log_dir / f"{label}-{n}.rtt.json"
        for old in rtt.files(count_file):  # an earlier run's, with its horses'
            old.unlink(missing_ok=True)
        log = open(self.log_dir / f"{label}-{n}.log", "wb")
        argv = [sys.executable, "-m", *self.launcher, str(count_file), *module_argv]
        self.procs.append(
            subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()
        self.count_files.append(count_file)

    def failed(self) -> list[int]:
        """Exit codes of workers that have exited with an error."""
        return [p.returncode for p in self.procs if p.poll() not in (None, 0)]

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        return True

    def round_trips(self) -> int | None:
        """Round trips all workers (and their work-horses) sent, once every one has
        exited normally."""
        try:
            return sum(
                json.loads(f.read_text())["round_trips"]
                for path in self.count_files
                for f in rtt.files(path)
            )
        except (OSError, ValueError, KeyError):
            return None

    def stop(self) -> None:
        """SIGTERM to each worker's own group (warm shutdown), SIGKILL after a grace."""
        for proc in self.procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self.procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()

    def logs_tail(self, lines: int = 15) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group is the worker's own (start_new_session)
    except ProcessLookupError:
        pass


def worker_env(url: str) -> dict[str, str]:
    """The environment of every worker: no inherited JOBSVC_* setting, repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSVC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["JOBSVC_REDIS_URL"] = url
    return env


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def children_cpu_seconds() -> float:
    """CPU time of this process's exited and reaped children (the workers), user + system."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
