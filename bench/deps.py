"""Dependency release delay: from a dependency's completedAt to its dependent's startedAt.

    python -m bench.deps                 # 200 pairs, 2 forking workers
    python -m bench.deps --worker-class simple --pairs 500

On an idle private Redis with real `jobsvc worker` processes, one pair at a
time: a dependency (a short `sleep`) in one lane, its dependent (`noop`) in
another lane, submitted while the dependency waits or runs.  The script that
completes the dependency promotes the dependent in the same step and hands
it to RQ; the delay is what it then takes a free worker to pop and claim it.
Both times are stamped by Redis' clock, so no process clock enters.  Target:
p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from bench.harness import BenchRedis, Workers, percentile, wait_for, worker_env
from jobsvc.service import Service
from jobsvc.settings import Settings

TARGET_P99_MS = 100.0
# How long the dependency runs: long enough for the dependent's submit to land first.
DEPENDENCY_S = 0.03


def _ms_between(earlier: str, later: str) -> float:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(later) - parse(earlier)).total_seconds() * 1000


def one_pair(svc: Service, n: int) -> float:
    """Runs one pair to its end and returns the release delay in ms."""
    dependency = svc.submit(f"build-{n}", "sleep", {"seconds": DEPENDENCY_S})
    dependent = svc.submit(f"deploy-{n}", "noop", depends_on=[dependency.id])
    if not wait_for(lambda: svc.get(dependent.id).ended, timeout=30):
        raise SystemExit(f"pair {n}: the dependent did not end within 30 s")
    done, started = svc.get(dependency.id), svc.get(dependent.id)
    if (done.status, started.status) != ("completed", "completed"):
        raise SystemExit(f"pair {n}: {done.status} then {started.status}")
    return _ms_between(done.completed_at, started.started_at)


def run(pairs: int, worker_class: str, workers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="jobsvc-deps-") as tmp:
        db = BenchRedis(Path(tmp) / "redis").start()
        try:
            env = worker_env(db.url)
            svc = Service(db.url, Settings.from_env({"JOBSVC_REDIS_URL": db.url}))
            with Workers(Path(tmp)) as procs:
                for _ in range(workers):
                    procs.start("jobsvc", ["jobsvc", "worker", "--worker-class", worker_class], env)
                one_pair(svc, -1)  # warm-up: every worker up and polling
                delays = [one_pair(svc, n) for n in range(pairs)]
        finally:
            db.stop()
    return {
        "pairs": pairs,
        "p50 ms": round(percentile(delays, 50), 2),
        "p99 ms": round(percentile(delays, 99), 2),
        "max ms": round(max(delays), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=("fork", "simple"), default="fork")
    args = parser.parse_args()
    result = run(args.pairs, args.worker_class, args.workers)
    for name, value in result.items():
        print(f"{name:>8}: {value}")
    ok = result["p99 ms"] <= TARGET_P99_MS
    print(f"release delay p99 <= {TARGET_P99_MS:.0f} ms: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
