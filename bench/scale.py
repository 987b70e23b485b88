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
import functools
import multiprocessing
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import median

if __package__ in (None, ""):  # run as a file: make `bench` and `jobsvc` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench import paging, redis_time, rtt
from bench.core import jobsvc_revision, load_average, table, verdict
from bench.harness import ID_RE, BenchRedis, Workers, wait_for, worker_env
from bench.paging import Api, Listing

# jobsvc as this benchmark uses it: stable entry points only, all of them here
# (modules are moving into subpackages; these lines are what to update).
from jobsvc import Service
from jobsvc.reconcile import reconcile_all
from jobsvc.redis_server import free_port
from jobsvc.settings import Settings

WEB_APP = "jobsvc.web:create_app()"  # served by gunicorn
WORKER_ARGV = ["jobsvc", "worker", "--pool", "standard", "--worker-class"]
TASKS_LISTING = Listing("/api/v1/tasks", "tasks")
DEPLOYMENTS_LISTING = Listing("/api/v1/deployments", "deployments")

# Targets of issue 8, set for 1,000,000 queued tasks over 100,000 lanes.
SUBMIT_MIN_RATIO = 0.9  # submit rate at full depth / on an empty Redis
RECONCILE_MAX_MS = 50.0  # Redis time of one pass when nothing is late
PAGING_MAX_RATIO = 2.0  # a deep page's p50 / the first page's
MEMORY_MAX_BYTES = 700  # Redis per queued task

# Submits before the first timed run (then the Redis is flushed).
WARMUP_SUBMITS = 200
# Tasks a loader process submits per job it is given.
LOAD_CHUNK = 5000
# The deep page starts this far down its list (or a page before its end, if higher).
DEPTH_FRACTION = 0.9
# A reconcile grace no dispatch is older than: the pass walks the lanes and
# looks nothing up in RQ (the floor of a pass's cost).
WALK_ONLY_GRACE_S = 1e9
# Slowest drain before the phase is declared stuck, tasks/s.
DRAIN_FLOOR_RATE = 20
# Seconds the web server gets to answer /healthz after it starts.
WEB_START_S = 30.0
LANE_RE = re.compile(r"(?:dep|probe)-[0-9-]+")


class PhaseFailed(Exception):
    pass


@dataclass(frozen=True)
class Sizes:
    tasks: int = 1_000_000
    lanes: int = 100_000
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


# -- the submit path --------------------------------------------------------------


def connect(url: str) -> Service:
    """A Service on a benchmark Redis, configured by nothing in this process's env."""
    return Service(url, Settings.from_env({"JOBSVC_REDIS_URL": url}))


def lane_name(i: int) -> str:
    return f"dep-{i}"


@functools.cache
def _loader_service(url: str) -> Service:
    return connect(url)


def load_range(url: str, start: int, stop: int, lanes: int) -> int:
    """In a loader process: tasks ``start..stop-1``, task i to lane i % lanes."""
    svc = _loader_service(url)
    for i in range(start, stop):
        svc.submit(lane_name(i % lanes), "noop", {})
    return stop - start


class Loader:
    """Bulk loading through the real submit path (``Service.submit``, one
    submit.lua call each), in parallel processes, as fast as that path goes."""

    def __init__(self, processes: int):
        self.pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))

    def load(self, url: str, start: int, stop: int, lanes: int) -> float:
        """Submits tasks ``start..stop-1``; returns the seconds it took."""
        begin = time.perf_counter()
        chunks = [(a, min(a + LOAD_CHUNK, stop)) for a in range(start, stop, LOAD_CHUNK)]
        futures = [self.pool.submit(load_range, url, a, b, lanes) for a, b in chunks]
        for future in futures:
            future.result()
        return time.perf_counter() - begin

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def timed_submits(svc: Service, label: str, n: int, per_lane: int) -> float:
    """Submit rate (tasks/s) of ``n`` submits into lanes of their own, ``per_lane``
    each, so every level sees the same work: one lane head per ``per_lane``."""
    start = time.perf_counter()
    for j in range(n):
        svc.submit(f"probe-{label}-{j // per_lane}", "noop", {})
    return n / (time.perf_counter() - start)


# -- phases -----------------------------------------------------------------------------


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
    Redis time per submit is kept too: unlike the rate, other processes on
    the machine barely move it.
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
        run.probe_lanes = (run.probe_lanes if level else 0) + -(-sizes.submits // sizes.per_lane)
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
    return {"queued": queued, "per_task": used / queued, "by_key": memory_by_key_kind(run.deep.db)}


def memory_by_key_kind(db: BenchRedis, batch: int = 1000) -> Counter[str]:
    """Bytes per key pattern (ids and lane names folded), from MEMORY USAGE,
    one SCAN page at a time: the benchmark never holds every key name."""
    sizes: Counter[str] = Counter()
    cursor = None
    while cursor != 0:
        cursor, names = db.client.scan(cursor or 0, count=batch)
        with db.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.memory_usage(name, samples=0)
            for name, size in zip(names, pipe.execute()):
                sizes[LANE_RE.sub("<lane>", ID_RE.sub("<id>", name))] += size or 0
    return sizes


def phase_reconcile(run: Run, grace_s: float) -> dict:
    """One ``reconcile_all`` pass over every busy lane; nothing is late, so it
    should repair nothing (what it did repair is reported)."""
    with redis_time.measure(run.deep.db.client) as window:
        report = reconcile_all(run.deep.svc.store, orphan_grace_s=grace_s)
    repairs = {name: len(items) for name, items in vars(report).items() if items}
    return {"window": window, "repairs": repairs, "lanes": run.lanes()}


def phase_paging(run: Run) -> dict:
    """Both listings' first and deep pages over gunicorn serving the app on loopback."""
    port = free_port()
    argv = [
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        WEB_APP,
    ]
    out = {}
    with Workers(run.log_dir) as procs:
        procs.start("web", argv, worker_env(run.deep.db.url))
        api = Api(port)
        if (
            not wait_for(lambda: _healthy(api) or bool(procs.failed()), WEB_START_S, 0.2)
            or procs.failed()
        ):
            raise PhaseFailed(f"the web server did not start\n{procs.logs_tail()}")
        totals = {TASKS_LISTING: run.deep.queued(), DEPLOYMENTS_LISTING: run.lanes()}
        for listing, total in totals.items():
            page = len(api.get(listing.path)[1][listing.items])  # the default page size
            depth = paging.walk_to(api, listing, min(int(total * DEPTH_FRACTION), total - page))
            timings = paging.first_and_deep(api, listing, depth.cursor, run.sizes.samples)
            out[listing.path] = {"depth": depth, **timings}
        api.close()
    return out


def _healthy(api: Api) -> bool:
    try:
        api.get("/healthz")
        return True
    except (OSError, RuntimeError, ValueError):
        api.close()  # a refused connection is reopened by the next request
        return False


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
    loaded = n + n // 10 + 10  # the timing starts after the first completion or so
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
    for grace in (0.0, WALK_ONLY_GRACE_S):
        with step(f"reconcile pass, orphan grace {grace:g} s"):
            res["reconcile"][grace] = phase_reconcile(run, grace)
    with step("paging: walk to depth, then first vs deep pages"):
        res["paging"] = phase_paging(run)
    with step(f"drain {sizes.drain:,} at {run.deep.queued():,} queued"):
        res["drain_deep"] = phase_drain(run, run.deep, sizes.drain)
    return res


# -- the report -----------------------------------------------------------------------


def summary_rows(res: dict, sizes: Sizes) -> list[tuple[str, ...]]:
    rows = [submit_row(level, res["submit"][level], level == sizes.tasks) for level in sizes.levels]
    rows.append(submit_redis_row(sizes.tasks, res["submit"][sizes.tasks]))
    per_task = res["memory"]["per_task"]
    rows.append(
        (
            "Redis memory per queued task, B",
            f"{per_task:.0f}",
            "",
            "",
            f"<= {MEMORY_MAX_BYTES} B",
            verdict(per_task <= MEMORY_MAX_BYTES),
        )
    )
    passes = res["reconcile"]
    pass_ms = passes[0.0]["window"].redis_us / 1000
    rows.append(
        (
            f"reconcile pass, Redis ms ({passes[0.0]['lanes']:,} busy lanes)",
            f"{pass_ms:.1f}",
            "",
            "",
            f"<= {RECONCILE_MAX_MS:.0f} ms",
            verdict(pass_ms <= RECONCILE_MAX_MS),
        )
    )
    rows.append(
        ("reconcile pass, wall s", f"{passes[0.0]['window'].wall_s:.2f}", "", "", "(info)", "")
    )
    rows.append(
        (
            "reconcile lane walk only (no RQ lookups), Redis ms",
            f"{passes[WALK_ONLY_GRACE_S]['window'].redis_us / 1000:.1f}",
            "",
            "",
            "(info)",
            "",
        )
    )
    for path, page in res["paging"].items():
        p50, p99 = page["deep_p50"] / page["first_p50"], page["deep_p99"] / page["first_p99"]
        rows.append(
            (
                f"GET {path} deep/first page p50, ms",
                f"{page['deep_p50']:.2f}",
                f"{page['first_p50']:.2f}",
                f"{p50:.2f}",
                f"<= {PAGING_MAX_RATIO}x",
                verdict(p50 <= PAGING_MAX_RATIO),
            )
        )
        rows.append(
            (
                f"GET {path} deep/first page p99, ms",
                f"{page['deep_p99']:.2f}",
                f"{page['first_p99']:.2f}",
                f"{p99:.2f}",
                "(info)",
                "",
            )
        )
    deep, empty = res["drain_deep"]["rate"], res["drain_empty"]["rate"]
    rows.append(
        (
            f"drain through {sizes.workers} workers at depth / empty, tasks/s",
            f"{deep:.0f}",
            f"{empty:.0f}",
            f"{deep / empty:.2f}",
            "(info)",
            "",
        )
    )
    return rows


def submit_row(level: int, sub: dict, judged: bool) -> tuple[str, ...]:
    """Best rate at ``level`` queued against the best on the empty reference Redis."""
    deep, ref = max(sub["deep"]["rates"]), max(sub["ref"]["rates"])
    ratio = deep / ref
    label = (
        "submit rate, both empty (control)" if level == 0 else f"submit rate at {level:,} queued"
    )
    return (
        f"{label}, tasks/s",
        f"{deep:.0f}",
        f"{ref:.0f}",
        f"{ratio:.2f}",
        f">= {SUBMIT_MIN_RATIO}x" if judged else "(info)",
        verdict(ratio >= SUBMIT_MIN_RATIO) if judged else "",
    )


def submit_redis_row(level: int, sub: dict) -> tuple[str, ...]:
    deep, ref = median(sub["deep"]["redis_us"]), median(sub["ref"]["redis_us"])
    return (
        f"Redis time per submit at {level:,} queued, us (median)",
        f"{deep:.0f}",
        f"{ref:.0f}",
        f"{deep / ref:.2f}",
        "(info)",
        "",
    )


def details(res: dict, sizes: Sizes) -> list[str]:
    lines = [""]
    for level, sub in res["submit"].items():
        load = f" (loaded to {level:,} in {sub['load_s']:.1f}s)" if sub["load_s"] else ""
        lines.append(f"  submit at {level:,} queued{load}, each run (best rate counts):")
        for side in ("deep", "ref"):
            runs = ", ".join(
                f"{rate:.0f}/s {us:.0f}us"
                for rate, us in zip(sub[side]["rates"], sub[side]["redis_us"])
            )
            lines.append(f"      {side}: {runs}")
    memory = res["memory"]
    lines.append(
        f"  memory: {memory['per_task']:.0f} B per queued task over "
        f"{memory['queued']:,} queued; by key kind (MEMORY USAGE):"
    )
    for kind, size in memory["by_key"].most_common(12):
        lines.append(f"      {size / memory['queued']:7.1f} B/task  {kind}")
    for grace, one in res["reconcile"].items():
        lines += reconcile_lines(grace, one)
    for path, page in res["paging"].items():
        depth = page["depth"]
        lines.append(
            f"  GET {path}: deep page after {depth.walked:,} items ({depth.pages} pages "
            f"walked in {depth.seconds:.1f}s), {page['deep_items']} items on it; "
            f"{sizes.samples} requests of each page"
        )
    for label in ("drain_empty", "drain_deep"):
        d = res[label]
        lines.append(
            f"  {label}: {d['tasks']:,} tasks in {d['seconds']:.1f}s, "
            f"{d['rate']:.0f} tasks/s ({sizes.workers} x jobsvc worker "
            f"--worker-class {sizes.worker_class})"
        )
    return lines


def reconcile_lines(grace: float, one: dict) -> list[str]:
    w, lanes = one["window"], max(1, one["lanes"])
    top = ", ".join(
        f"{name} {us / 1000:.1f} ms ({w.sent[name]:,})" for name, us in w.by_command[:8]
    )
    return [
        f"  reconcile, orphan grace {grace:g} s: {one['lanes']:,} busy lanes, wall "
        f"{w.wall_s:.2f}s, Redis {w.redis_us / 1000:.1f} ms ({w.redis_us / lanes:.1f} us/lane), "
        f"redis-server CPU {w.cpu_s * 1000:.0f} ms, {w.round_trips:,} round trips "
        f"({w.round_trips / lanes:.1f}/lane), repairs: {one['repairs'] or 'none'}",
        f"      Redis time by command (calls sent): {top}",
    ]


def report(res: dict, sizes: Sizes) -> str:
    header = ("metric", "measured", "reference", "ratio", "target", "result")
    scope = (
        ""
        if sizes.tasks == Sizes.tasks and sizes.lanes == Sizes.lanes
        else f" (targets are set for {Sizes.tasks:,} over {Sizes.lanes:,}; this run is smaller)"
    )
    return "\n".join(
        [
            *details(res, sizes),
            "",
            f"Summary at {sizes.tasks:,} queued over {sizes.lanes:,} lanes{scope}:",
            table(header, summary_rows(res, sizes)),
        ]
    )


def describe(db: BenchRedis, sizes: Sizes) -> str:
    server, memory = db.client.info("server"), db.client.info("memory")
    return (
        f"jobsvc at scale | Python {platform.python_version()} | redis-py "
        f"{redis.__version__} | redis-server {server['redis_version']} "
        f"({memory['mem_allocator']}, no AOF) | {os.cpu_count()} cores\n"
        f"{sizes.tasks:,} tasks over {sizes.lanes:,} lanes ({sizes.per_lane} per lane); "
        f"submit levels {', '.join(f'{x:,}' for x in sizes.levels)}, "
        f"{sizes.runs} x {sizes.submits:,} timed submits each (own lanes, "
        f"{sizes.per_lane} per lane), alternating with a Redis kept empty; loaded by "
        f"{sizes.loaders} processes through Service.submit; drain {sizes.drain:,} through "
        f"{sizes.workers} x jobsvc worker "
        f"--worker-class {sizes.worker_class}; {sizes.samples} paging samples\n"
        f"jobsvc: {jobsvc_revision()}\n"
        f"load average at start: {load_average()}"
    )


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
    loader = Loader(sizes.loaders)
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
