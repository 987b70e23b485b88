"""(b) again with burst and with long-running workers, for both systems.

    cd /work/main && python -m bench.whatif [--e2e 4000] [--deployments 1000]

bench/core.py measures (b) with burst workers, as asked.  A jobsvc worker
listens on five queues, and RQ's non-blocking (burst) dequeue sends one LPOP
per queue until one answers, while a long-running worker sends one BLPOP for
all five.  This shows what that costs each system.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import rtt
from bench.core import jobsvc_revision, load_average, phase_e2e, table
from bench.harness import BenchRedis
from bench.systems import JobsvcSide, RQSide, Side, jobsvc_cli_works


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.whatif")
    p.add_argument("--e2e", type=int, default=4000)
    p.add_argument("--deployments", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    rtt.install()
    tmp = Path(tempfile.mkdtemp(prefix="jobsvc-whatif-"))
    db = BenchRedis(tmp / "redis").start()
    print(f"jobsvc: {jobsvc_revision()}; load average at start: {load_average()}", flush=True)
    sides: list[Side] = [RQSide(db.url), JobsvcSide(db.url, args.deployments, jobsvc_cli_works())]
    rows = []
    try:
        for burst in (True, False):
            for side in sides:
                label = f"{side.name}, {'burst' if burst else 'long-running'} workers"
                res = phase_e2e(db, side, args.e2e, args.workers, tmp, burst=burst)
                rows.append(
                    (
                        label,
                        f"{res['rate']:.0f}",
                        f"{res['cmds']:.1f}",
                        "n/a" if res["rtt"] is None else f"{res['rtt']:.1f}",
                    )
                )
                print(f"  {label}: {res['rate']:.0f} tasks/s", flush=True)
    finally:
        db.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(("variant", "tasks/s", "cmds/task", "round trips/task"), rows))
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
