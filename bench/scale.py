"""jobsvc at scale: a million queued tasks over 100,000 lanes, on a private Redis.

    python -m bench.scale                          # 1,000,000 tasks, 100,000 lanes
    python -m bench.scale --tasks 20000 --lanes 2000
    python -m bench.scale --quick                  # 2,000 over 200: a smoke run

Measures, on redis-servers of its own: the submit rate at 0, tasks/10 and
tasks already queued, each against a second Redis kept empty (runs
alternate, so both meet the same machine); Redis memory per queued task;
one reconcile pass's Redis time with nothing late; ``GET /deployments`` and
``GET /tasks``, first page against a page deep in the list, over a real
HTTP server; and a drain through real ``jobsvc worker`` processes, on the
empty Redis and at full depth.  Each target of issue 8 is printed with
PASS/FAIL (they are set for the full size).  The exit status is 0 when
every phase ran, targets met or not.  See bench/README.md and
docs/benchmarks.md ("Scale").
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from math import ceil
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `bench` and `jobsvc` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import paging, redis_time, rtt
from bench.core import load_average
from bench.harness import BenchRedis, Workers, wait_for, worker_env
from bench.loading import Loader, lane_name, timed_submits
from bench.paging import Listing
from bench.scale_report import FULL_LANES, FULL_TASKS, describe, report

# jobsvc as this benchmark uses it: stable entry points only, all of them here
# (modules are moving into subpackages; these lines are what to update).
from jobsvc import Service
from jobsvc.policy import ORPHAN_GRACE_S
from jobsvc.processes.reconcile import reconcile_all
from jobsvc.processes.redis_server import free_port
from jobsvc.settings import DEFAULT_RECONCILE_S, Settings

WEB_APP = "jobsvc.web:create_app()"  # served by gunicorn
WORKER_ARGV = ["jobsvc", "worker", "--pool", "standard", "--worker-class"]
TASKS_LISTING = Listing("/api/v1/tasks", "tasks")
DEPLOYMENTS_LISTING = Listing("/api/v1/deployments", "deployments")

# Submits before the first timed run (then the Redis is flushed).
WARMUP_SUBMITS = 200
# The deep page starts this far down its list (or a page before its end, if higher).
DEPTH_FRACTION = 0.9
# The reconcile passes measured.  "first", orphan grace 0 s, right after
# loading: every lane is due in the reconciler's index (each dispatch's check
# time is its dispatch + the grace) and each is checked against RQ, as once
# when a backlog's dispatches pass the grace.  Then "steady": STEADY_PASSES
# passes at the default grace, one every DEFAULT_RECONCILE_S (the scheduler's
# cadence), with nothing late: each lane the first pass found well is due again
# after as long as it had waited, so the first few passes still recheck the
# lanes dispatched shortly before it (the probes'); the target is their median.
FIRST_GRACE_S = 0.0
STEADY_PASSES = 6
# Slowest drain before the phase is declared stuck, tasks/s.
DRAIN_FLOOR_RATE = 20
# Lane names folded in the memory breakdown: the main lanes and the probes'.
LANE_RE = re.compile(r"(?:dep|probe)-[0-9-]+")


class PhaseFailed(Exception):
    pass


@dataclass(frozen=True)
class Sizes:
    tasks: int = FULL_TASKS
    lanes: int = FULL_LANES
    # Timed submits per run at each level, and runs per level and side (the best counts).
    submits: int = 5000
    runs: int = 5
    drain: int = 10_000
    workers: int = 2
    # Requests per page kind (first, deep) of each listing.
    samples: int = 200
    # Processes bulk-loading tasks through Service.submit.
    loaders: int = 2
    worker_class: str = "simple"
    # Seconds between the steady reconcile passes (the scheduler's period).
    reconcile_every: float = DEFAULT_RECONCILE_S

    @property
    def per_lane(self) -> int:
        return max(1, self.tasks // self.lanes)

    @property
    def levels(self) -> tuple[int, int, int]:
        return 0, self.tasks // 10, self.tasks


QUICK = {"tasks": 2000, "lanes": 200}


def scaled_sizes(tasks: int, lanes: int) -> Sizes:
    """Defaults that shrink with ``tasks``, so a small run stays small."""
    return Sizes(
        tasks=tasks,
        lanes=lanes,
        submits=_clamp(tasks // 20, 100, 5000),
        drain=_clamp(tasks // 2, 100, 10_000),
        samples=_clamp(tasks // 100, 20, 200),
    )


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


# -- phases -----------------------------------------------------------------------------


def connect(url: str) -> Service:
    """A Service on a benchmark Redis, configured by nothing in this process's env."""
    return Service(url, Settings.from_env({"JOBSVC_REDIS_URL": url}))


@dataclass
class Side:
    """One private Redis and a Service on it."""

    db: BenchRedis
    svc: Service

    def by_status(self) -> dict[str, int]:
        return self.svc.stats()["byStatus"]

    def queued(self) -> int:
        return int(self.by_status()["queued"])


@dataclass
class Run:
    """The deep Redis, filled level by level, and the reference Redis, kept
    empty: the submit runs alternate between them, so both meet the same
    machine (other processes share these cores)."""

    deep: Side
    ref: Side
    loader: Loader
    sizes: Sizes
    log_dir: Path
    empty_memory: int = 0
    main_loaded: int = 0
    probe_lanes: int = 0

    def lanes(self) -> int:
        """Busy lanes in the deep Redis."""
        return min(self.sizes.lanes, self.main_loaded) + self.probe_lanes


def warm_up(run: Run) -> None:
    """Loads the scripts (a reconcile pass's too) and opens connections; the
    empty Redis's memory is the baseline."""
    for side in (run.deep, run.ref):
        for i in range(WARMUP_SUBMITS):
            side.svc.submit(lane_name(i), "noop", {})
        reconcile_all(side.svc.store)
        side.db.reset()
    run.empty_memory = run.deep.db.used_memory()


def phase_submit(run: Run, level: int) -> dict:
    """The submit rate with ``level`` tasks queued against an empty Redis's,
    ``runs`` runs each, alternating; the best of each side counts.

    The reference Redis is flushed before each of its runs; so is the deep
    one at level 0 (a control: both sides should then match).  At the other
    levels the deep side's runs stack, each adding ``submits`` tasks.  The
    Redis time per submit is kept too: other processes on the machine move
    it less than the rate (only when they preempt redis-server mid-command).
    """
    sizes = run.sizes
    out: dict = {name: {"rates": [], "redis_us": []} for name in ("deep", "ref")}
    loaded = reach(run, level) if level else 0.0
    for r in range(sizes.runs):
        for name in ("ref", "deep") if r % 2 == 0 else ("deep", "ref"):
            side = run.ref if name == "ref" else run.deep
            if side is run.ref or level == 0:
                side.db.reset()
            with redis_time.measure(side.db.client) as window:
                rate = timed_submits(side.svc, f"{level}-{r}", sizes.submits, sizes.per_lane)
            out[name]["rates"].append(rate)
            out[name]["redis_us"].append(window.redis_us / sizes.submits)
        run.probe_lanes = (run.probe_lanes if level else 0) + ceil(sizes.submits / sizes.per_lane)
    return {**out, "load_s": loaded}


def reach(run: Run, level: int) -> float:
    """Loads main-lane tasks until ``level`` are queued; seconds it took."""
    missing = level - run.deep.queued()
    if missing <= 0:
        return 0.0
    start, run.main_loaded = run.main_loaded, run.main_loaded + missing
    return run.loader.load(run.deep.db.url, start, run.main_loaded, run.sizes.lanes)


def phase_memory(run: Run) -> dict:
    queued = run.deep.queued()
    used = run.deep.db.used_memory() - run.empty_memory
    by_key = run.deep.db.memory_by_key_kind(LANE_RE)
    return {"queued": queued, "per_task": used / queued, "by_key": by_key}


def phase_reconcile(run: Run, grace_s: float) -> dict:
    """One ``reconcile_all`` pass; nothing is late, so it should repair nothing
    (what it did repair is reported)."""
    with redis_time.measure(run.deep.db.client) as window:
        report = reconcile_all(run.deep.svc.store, orphan_grace_s=grace_s)
    repairs = {name: len(items) for name, items in vars(report).items() if items}
    return {
        "window": window,
        "repairs": repairs,
        "lanes": run.lanes(),
        "indexed": run.deep.svc.store.checks_size(),
        "grace_s": grace_s,
    }


def phase_steady_reconcile(run: Run) -> list[dict]:
    """STEADY_PASSES passes at the scheduler's cadence (each starts
    ``reconcile_every`` after the previous one started), at the default grace."""
    passes: list[dict] = []
    for _ in range(STEADY_PASSES):
        started = time.monotonic()
        passes.append(phase_reconcile(run, ORPHAN_GRACE_S))
        time.sleep(max(0.0, run.sizes.reconcile_every - (time.monotonic() - started)))
    return passes


def phase_paging(run: Run) -> dict:
    """Both listings' first and deep pages over gunicorn serving the app on loopback."""
    out = {}
    try:
        with paging.serve(WEB_APP, free_port(), run.deep.db.url, run.log_dir) as api:
            totals = {TASKS_LISTING: run.deep.queued(), DEPLOYMENTS_LISTING: run.lanes()}
            for listing, total in totals.items():
                page = len(api.get(listing.path)[1][listing.items])  # the default page size
                depth = paging.walk_to(api, listing, min(int(total * DEPTH_FRACTION), total - page))
                timings = paging.first_and_deep(api, listing, depth.cursor, run.sizes.samples)
                out[listing.path] = {"depth": depth, **timings}
    except RuntimeError as exc:  # the server did not start, or answered an error
        raise PhaseFailed(str(exc)) from exc
    return out


def phase_drain(run: Run, side: Side, n: int) -> dict:
    """Tasks/s while ``n`` tasks complete through the workers, timed from the
    first completion (the workers' start-up left out)."""
    env = worker_env(side.db.url)
    with Workers(run.log_dir) as procs:
        base = _completed(side, procs)
        for _ in range(run.sizes.workers):
            procs.start("drain", [*WORKER_ARGV, run.sizes.worker_class], env)
        _wait_completed(side, procs, base + 1, timeout=60.0)
        first = _completed(side, procs)
        start = time.perf_counter()
        _wait_completed(side, procs, first + n, timeout=60.0 + n / DRAIN_FLOOR_RATE)
        elapsed = time.perf_counter() - start
    return {"rate": n / elapsed, "seconds": elapsed, "tasks": n}


def phase_drain_empty(run: Run) -> dict:
    """The same drain on the reference Redis, holding nothing else."""
    n, per_lane = run.sizes.drain, run.sizes.per_lane
    # The timing starts after the first completions seen: with workers that finish
    # hundreds of tasks a second, tens of them may land before the first look.
    loaded = n + n // 2 + 10
    run.ref.db.reset()
    run.loader.load(run.ref.db.url, 0, loaded, max(1, loaded // per_lane))
    result = phase_drain(run, run.ref, n)
    run.ref.db.reset()
    return result


def _completed(side: Side, procs: Workers) -> int:
    by_status = side.by_status()
    if by_status["failed"] or procs.failed():
        raise PhaseFailed(
            f"{by_status['failed']} failed tasks, worker exit codes "
            f"{procs.failed()}\n{procs.logs_tail()}"
        )
    return int(by_status["completed"])


def _wait_completed(side: Side, procs: Workers, target: int, timeout: float) -> None:
    if not wait_for(lambda: _completed(side, procs) >= target, timeout, interval=0.05):
        raise PhaseFailed(
            f"{_completed(side, procs)} of {target} tasks completed after "
            f"{timeout:.0f}s\n{procs.logs_tail()}"
        )


# -- the run ------------------------------------------------------------------------------


@contextmanager
def step(what: str) -> Iterator[None]:
    print(f"  {what:52} ...", end="", flush=True)
    start = time.perf_counter()
    yield
    print(f" {time.perf_counter() - start:6.1f}s  (load {load_average()})", flush=True)


def run_phases(run: Run) -> dict:
    sizes, res = run.sizes, {}
    with step("warm-up"):
        warm_up(run)
    with step(f"drain {sizes.drain:,} on the empty reference Redis"):
        res["drain_empty"] = phase_drain_empty(run)
    res["submit"] = {}
    for level in sizes.levels:
        with step(f"submit at {level:,} queued ({sizes.runs} x {sizes.submits:,} per side)"):
            res["submit"][level] = phase_submit(run, level)
    with step("memory per queued task (MEMORY USAGE of every key)"):
        res["memory"] = phase_memory(run)
    res["reconcile"] = {}
    with step(f"reconcile pass, orphan grace {FIRST_GRACE_S:g} s"):
        res["reconcile"]["first"] = phase_reconcile(run, FIRST_GRACE_S)
    with step(f"{STEADY_PASSES} reconcile passes, one every {sizes.reconcile_every:g} s"):
        res["reconcile"]["steady"] = phase_steady_reconcile(run)
    with step("paging: walk to depth, then first vs deep pages"):
        res["paging"] = phase_paging(run)
    with step(f"drain {sizes.drain:,} at {run.deep.queued():,} queued"):
        res["drain_deep"] = phase_drain(run, run.deep, sizes.drain)
    return res


# -- the command ------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=Sizes.tasks, help="tasks queued at the end")
    p.add_argument("--lanes", type=int, default=Sizes.lanes, help="lanes they are spread over")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK['tasks']:,} tasks over {QUICK['lanes']:,} lanes: a smoke run",
    )
    for name in ("submits", "runs", "drain", "workers", "samples", "loaders"):
        p.add_argument(f"--{name}", type=int, default=None, help="override the scaled default")
    p.add_argument("--worker-class", choices=("simple", "fork"), default=None)
    p.add_argument(
        "--reconcile-every",
        type=float,
        default=None,
        help=f"seconds between the steady reconcile passes [default {DEFAULT_RECONCILE_S:g}]",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (Redis, logs)")
    return p.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = scaled_sizes(**QUICK) if args.quick else scaled_sizes(args.tasks, args.lanes)
    overrides = {
        k: v
        for k, v in vars(args).items()
        if k in Sizes.__dataclass_fields__ and k not in QUICK and v is not None
    }
    sizes = replace(sizes, **overrides)
    if not 0 < sizes.lanes <= sizes.tasks:
        raise SystemExit("--lanes must be between 1 and --tasks")
    return sizes


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: workers, loaders, Redis


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_from(args)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    rtt.install()
    tmp = Path(tempfile.mkdtemp(prefix="jobsvc-scale-"))
    dbs = [BenchRedis(tmp / name) for name in ("redis-deep", "redis-ref")]
    loader = Loader(connect, sizes.loaders)
    ok = False
    try:
        deep, ref = (Side(db.start(), connect(db.url)) for db in dbs)
        print(describe(deep.db, sizes), flush=True)
        run = Run(deep, ref, loader, sizes, tmp)
        print(report(run_phases(run), sizes))
        print(f"load average at end: {load_average()}")
        ok = True
    except PhaseFailed as exc:
        print(f"\nphase failed: {exc}", file=sys.stderr)
    finally:
        loader.close()
        for db in dbs:
            db.stop()
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"(logs kept in {tmp})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
