"""Webhooks: deliveries per second to a local receiver, and what one subscription
adds to each task, in one run.

    python -m bench.webhooks                  # 1000 tasks per phase, 3000 deliveries
    python -m bench.webhooks --tasks 50 --deliveries 100      # a smoke run

On a private Redis with real `jobsvc worker` (simple) and `jobsvc deliverer`
processes and a real HTTP receiver on loopback (answering 204):

(a) cost per task: the same noop tasks end to end, with no subscription and
    then with one (task.completed) and a deliverer sending each; Redis commands
    per task (INFO commandstats, commands run inside Lua included) and tasks/s.
(b) throughput: deliveries recorded while no deliverer ran, then sent by two
    deliverer processes; deliveries/s from their start to the last one's end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import BenchRedis, Workers, wait_for, worker_env
from jobsvc import keys
from jobsvc.service import Service
from jobsvc.settings import Settings
from tests.webhook_receiver import always, receiving
from tests.webhook_setup import SECRET

WORKERS = 2
DELIVERERS = 2
# Tasks submitted and run before each measured phase (then the Redis is flushed).
WARMUP = 20


def subscription_env(url: str) -> dict[str, str]:
    entry = {"url": url, "secret": SECRET, "events": ["task.completed"]}
    return {"JOBSVC_WEBHOOKS": json.dumps([entry])}


class Polls:
    """The benchmark's own reads while it waits, one command each, taken off the counts."""

    count = 0

    @classmethod
    def completed(cls, svc: Service) -> int:
        cls.count += 1
        return int(svc.store.client.zcard(keys.by_status("completed")))

    @classmethod
    def delivered(cls, svc: Service) -> int:
        cls.count += 1
        return int(svc.store.client.hget(keys.HOOK_COUNTS, "delivered") or 0)


def run_tasks(svc: Service, n: int, label: str) -> float:
    """Submits ``n`` noop tasks over 50 lanes and waits for all; returns the seconds."""
    start = time.monotonic()
    for i in range(n):
        svc.submit(f"{label}-{i % 50}", "noop")
    if not wait_for(lambda: Polls.completed(svc) >= n, timeout=600, interval=0.1):
        raise SystemExit(f"{label}: tasks did not complete")
    return time.monotonic() - start


def delivered(svc: Service) -> int:
    return Polls.delivered(svc)


def cost_phase(db: BenchRedis, tmp: Path, env: dict[str, str], n: int, hooks: bool) -> dict:
    """(a) for one setting: commands per task and tasks/s (deliveries sent as well)."""
    svc = Service(db.url, Settings.from_env(env))
    with Workers(tmp) as procs:
        for _ in range(WORKERS):
            procs.start("worker", ["jobsvc", "worker", "--worker-class", "simple"], env)
        if hooks:
            procs.start("deliverer", ["jobsvc", "deliverer"], env)
        run_tasks(svc, WARMUP, "warm")
        if hooks and not wait_for(lambda: delivered(svc) >= WARMUP, 60):
            raise SystemExit("warm-up deliveries were not sent")
        db.reset()
        Polls.count = 0
        seconds = run_tasks(svc, n, "cost")
        if hooks and not wait_for(lambda: delivered(svc) >= n, 300, 0.1):
            raise SystemExit("deliveries were not all sent")
        calls = sum(db.command_calls().values()) - Polls.count
    return {"commands/task": round(calls / n, 1), "tasks/s": round(n / seconds, 1)}


def throughput_phase(db: BenchRedis, tmp: Path, env: dict[str, str], n: int) -> float:
    """(b): deliveries/s of DELIVERERS processes over ``n`` recorded deliveries."""
    db.reset()
    svc = Service(db.url, Settings.from_env(env))
    with Workers(tmp) as procs:
        for _ in range(WORKERS):
            procs.start("worker", ["jobsvc", "worker", "--worker-class", "simple"], env)
        run_tasks(svc, n, "tp")
    if svc.store.pending_deliveries() != n:
        raise SystemExit("the deliveries were not all recorded")
    start = time.monotonic()
    with Workers(tmp) as procs:
        for _ in range(DELIVERERS):
            procs.start("deliverer", ["jobsvc", "deliverer"], env)
        if not wait_for(lambda: delivered(svc) >= n, 600, 0.05):
            raise SystemExit("deliveries were not all sent")
        seconds = time.monotonic() - start
    return n / seconds


def run(tasks: int, deliveries: int) -> dict[str, object]:
    with (
        tempfile.TemporaryDirectory(prefix="jobsvc-hooks-") as tmp_name,
        receiving(always(204)) as receiver,
    ):
        tmp = Path(tmp_name)
        db = BenchRedis(tmp / "redis").start()
        try:
            plain = worker_env(db.url)
            hooked = {**plain, **subscription_env(receiver.url)}
            db.reset()
            none = cost_phase(db, tmp, plain, tasks, hooks=False)
            db.reset()
            one = cost_phase(db, tmp, hooked, tasks, hooks=True)
            rate = throughput_phase(db, tmp, hooked, deliveries)
        finally:
            db.stop()
    return {
        "tasks per phase": tasks,
        "no subscription": none,
        "one subscription": one,
        "added commands/task": round(one["commands/task"] - none["commands/task"], 1),
        "deliveries": deliveries,
        "deliveries/s (2 deliverers)": round(rate, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--deliveries", type=int, default=3000)
    args = parser.parse_args()
    for name, value in run(args.tasks, args.deliveries).items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
