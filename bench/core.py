"""jobsvc against raw RQ 3 on one Redis, in one run: ratios ours/RQ and costs per task.

    cd /work/main && python -m bench.core [--quick]

(a) submit rate, (b) end-to-end throughput with two SimpleWorker processes,
(b') the same with RQ's forking Worker (the default users run), (c)
enqueue-to-start latency on idle workers, (d) Redis memory per queued task;
and per task: Redis commands and round trips of the workers, memory kept per
completed task with and without its live stream.  Every phase starts on a
flushed Redis with zeroed command counters.  (a), (b) and (b') run
``--repeat`` times per system, alternating RQ and jobsvc, and the median rate
of each counts; (c) keeps both systems' idle workers up and alternates their
samples; (d) measures RQ, then jobsvc.  See bench/README.md and
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `bench` and `jobsvc` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
import rq

from bench import rtt
from bench.harness import (
    LAUNCHER,
    ROOT,
    BenchRedis,
    Workers,
    children_cpu_seconds,
    percentile,
    wait_for,
    worker_env,
)
from bench.systems import JobsvcSide, RQSide, Side, StepsSide, jobsvc_cli_works

# Targets (issue 8): ratios ours/RQ, and jobsvc's own costs per task.
SUBMIT_MIN_RATIO = 1.0
E2E_MIN_RATIO = 1.0  # with SimpleWorker, and with the forking Worker
LATENCY_P99_MAX_RATIO = 1.0
MEMORY_MAX_BYTES = 700  # per queued task
COMMANDS_MAX = 60  # Redis commands per task lifecycle, workers only (RQ's own included)
ROUND_TRIPS_MAX = 20  # round trips per task lifecycle, workers only
STEPS_MAX_RATIO = 1.5  # Redis commands of a 3-step task / those of a one-step task (issue 9)
KEPT_MAX_BYTES = 2048  # per completed task while its live stream is there
KEPT_AFTER_MAX_BYTES = 1536  # per completed task once its live stream is gone
# Submits before each timed submit loop (then the Redis is flushed again).
WARMUP_SUBMITS = 200
# Latency samples taken and thrown away while idle workers settle.
WARMUP_SAMPLES = 10
# Slowest acceptable end-to-end rate before a phase is declared stuck, tasks/s.
E2E_FLOOR_RATE = 20


@dataclass(frozen=True)
class Sizes:
    submit: int = 5000
    e2e: int = 4000
    # (b') with forking workers: a fork per task makes both systems 2-3x slower.
    e2e_fork: int = 1500
    latency: int = 300
    memory: int = 10_000
    deployments: int = 1000
    workers: int = 2
    latency_workers: int = 1
    # Runs of (a), (b) and (b') per system, alternating; the median rate of each counts.
    repeat: int = 3
    # (e) tasks of one step, then of three, run by the e2e workers: the cost of steps.
    steps: int = 1000


QUICK = Sizes(
    submit=1000,
    e2e=1000,
    e2e_fork=400,
    latency=100,
    memory=2000,
    deployments=250,
    repeat=1,
    steps=300,
)


class PhaseFailed(Exception):
    pass


# -- phases -------------------------------------------------------------------------


def phase_submit(db: BenchRedis, side: Side, n: int) -> dict:
    db.reset()
    for i in range(WARMUP_SUBMITS):  # loads scripts, fills caches
        side.submit_one(i)
    db.reset()
    trips = rtt.count()
    elapsed = _timed_loop(side.submit_one, n)
    trips = rtt.count() - trips
    calls = db.command_calls()
    return {
        "rate": n / elapsed,
        "elapsed": elapsed,
        "calls": calls,
        "cmds": sum(calls.values()) / n,
        "rtt": trips / n,
    }


def _timed_loop(submit: Callable[[int], object], n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        submit(i)
    return time.perf_counter() - start


def phase_e2e(
    db: BenchRedis,
    side: Side,
    n: int,
    workers: int,
    log_dir: Path,
    *,
    burst: bool = True,
    launcher: tuple[str, ...] = LAUNCHER,
    worker_class: str = "simple",
    extra_env: dict[str, str] | None = None,
) -> dict:
    """Preload n tasks, start the workers, time until all n are done.

    Burst workers exit by themselves; others are stopped (warm) once all are done.
    Then the memory kept per task is read, with the tasks' live streams and
    after deleting them (as their expiry would).
    """
    db.reset()
    empty = db.used_memory()
    side.preload(n)
    db.client.config_resetstat()
    side.harness_zcards = 0
    env = {**worker_env(db.url), **(extra_env or {})}
    cpu_workers, cpu_redis = children_cpu_seconds(), db.cpu_seconds()
    with Workers(log_dir, launcher) as procs:
        start = time.perf_counter()
        for _ in range(workers):
            procs.start(
                f"{side.name}-e2e-{worker_class}",
                side.worker_argv(burst=burst, worker_class=worker_class),
                env,
            )
        done = _wait_all_done(side, procs, n, timeout=max(60.0, n / E2E_FLOOR_RATE), burst=burst)
        elapsed = time.perf_counter() - start
        if not burst:
            procs.stop()
        if not procs.wait(timeout=30):
            raise PhaseFailed(f"{side.name}: workers did not exit\n{procs.logs_tail()}")
        trips = procs.round_trips()
    cpu_workers, cpu_redis = children_cpu_seconds() - cpu_workers, db.cpu_seconds() - cpu_redis
    calls = db.command_calls()
    calls["zcard"] -= side.harness_zcards
    retained = (db.used_memory() - empty) / n
    side.drop_live_streams()
    return {
        "rate": n / elapsed,
        "elapsed": elapsed,
        "calls": +calls,
        "done": done,
        "cmds": sum(calls.values()) / n,
        "rtt": None if trips is None else trips / n,
        "retained": retained,
        "retained_after": (db.used_memory() - empty) / n,
        "cpu_workers_ms": cpu_workers * 1000 / n,
        "cpu_redis_ms": cpu_redis * 1000 / n,
    }


def _wait_all_done(side: Side, procs: Workers, n: int, timeout: float, burst: bool) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, failed = side.progress()
        if done >= n:
            return done
        if failed or procs.failed() or time.monotonic() > deadline:
            raise PhaseFailed(
                f"{side.name}: {done}/{n} done, {failed} failed, worker exit "
                f"codes {procs.failed()}\n{procs.logs_tail()}"
            )
        if burst and all(p.poll() is not None for p in procs.procs):
            # Burst workers all gone: give stragglers' writes a moment, then judge.
            if not wait_for(lambda: side.progress()[0] >= n, timeout=2):
                raise PhaseFailed(
                    f"{side.name}: workers exited with {done}/{n} done\n{procs.logs_tail()}"
                )
        time.sleep(0.02)


def phase_latency(
    db: BenchRedis, sides: list[Side], samples: int, workers: int, log_dir: Path
) -> dict[str, dict]:
    """Both systems' idle workers at once; samples alternate, so both see the same machine."""
    db.reset()
    seconds: dict[str, list[float]] = {side.name: [] for side in sides}
    with Workers(log_dir) as procs:
        for side in sides:
            for _ in range(workers):
                procs.start(
                    f"{side.name}-latency", side.worker_argv(burst=False), worker_env(db.url)
                )
        for side in sides:
            for i in range(WARMUP_SAMPLES):
                side.latency_sample(i)
        for i in range(samples):
            for side in sides if i % 2 == 0 else sides[::-1]:
                seconds[side.name].append(side.latency_sample(i))
    out = {}
    for name, values in seconds.items():
        ms = [v * 1000 for v in values]
        out[name] = {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms)}
    return out


def phase_memory(db: BenchRedis, side: Side, n: int) -> dict:
    db.reset()
    before = db.used_memory()
    side.preload(n)
    after = db.used_memory()
    return {"per_task": (after - before) / n, "by_key": db.memory_by_key_kind()}


# -- the run ----------------------------------------------------------------------


def run(db: BenchRedis, sizes: Sizes, log_dir: Path, use_cli: bool) -> dict[str, dict]:
    sides: list[Side] = [RQSide(db.url), JobsvcSide(db.url, sizes.deployments, use_cli)]
    results: dict[str, dict] = {side.name: {} for side in sides}
    per_side = [
        ("submit", lambda s: phase_submit(db, s, sizes.submit)),
        ("e2e", lambda s: phase_e2e(db, s, sizes.e2e, sizes.workers, log_dir)),
        (
            "e2e_fork",
            lambda s: phase_e2e(db, s, sizes.e2e_fork, sizes.workers, log_dir, worker_class="fork"),
        ),
    ]
    for name, phase in per_side:
        trials: dict[str, list[dict]] = {side.name: [] for side in sides}
        for _ in range(sizes.repeat):  # alternating, so both meet the same machine
            for side in sides:
                with _step(name, side.name):
                    trials[side.name].append(phase(side))
        for side in sides:
            results[side.name][name] = median_trial(trials[side.name])
    with _step("latency", "both, interleaved"):
        both = phase_latency(db, sides, sizes.latency, sizes.latency_workers, log_dir)
    for side in sides:
        results[side.name]["latency"] = both[side.name]
    for side in sides:
        with _step("memory", side.name):
            results[side.name]["memory"] = phase_memory(db, side, sizes.memory)
    results["jobsvc"].update(run_steps(db, sizes, log_dir, use_cli))
    return results


def run_steps(db: BenchRedis, sizes: Sizes, log_dir: Path, use_cli: bool) -> dict[str, dict]:
    """(e) the e2e phase with tasks of no step, one step, then three: commands per task."""
    out = {}
    for steps in (0, 1, 3):
        side = StepsSide(db.url, sizes.deployments, use_cli, steps)
        with _step("steps", f"{steps}-step tasks"):
            out[f"steps{steps}"] = phase_e2e(
                db, side, sizes.steps, sizes.workers, log_dir, extra_env=StepsSide.WORKER_ENV
            )
    return out


def steps_rows(steps: dict[str, dict]) -> list[tuple[str, ...]]:
    """(e): a 3-step task's commands against a one-step task's (the target), and
    against a task of the same kind that runs no step."""
    none, one, three = (steps[f"steps{k}"]["cmds"] for k in (0, 1, 3))
    rows = [
        (
            "(e) Redis commands per task, 3 steps / 1 step",
            f"{three:.1f}",
            f"{one:.1f}",
            f"{three / one:.2f}",
            f"<= {STEPS_MAX_RATIO}",
            verdict(three / one <= STEPS_MAX_RATIO),
        )
    ]
    rows.append(
        (
            "(e) Redis commands per task, 3 steps / no step",
            f"{three:.1f}",
            f"{none:.1f}",
            f"{three / none:.2f}",
            "(info)",
            "",
        )
    )
    return rows


def median_trial(trials: list[dict]) -> dict:
    """The trial of median rate (the lower middle one of an even number), with every rate."""
    ordered = sorted(trials, key=lambda t: t["rate"])
    middle = ordered[(len(ordered) - 1) // 2]
    return {
        **middle,
        "trials": [t["rate"] for t in trials],
        "median_rate": statistics.median(t["rate"] for t in trials),
    }


@contextmanager
def _step(phase: str, who: str) -> Iterator[None]:
    print(f"  {phase:8} {who:18} ...", end="", flush=True)
    start = time.perf_counter()
    yield
    print(f" {time.perf_counter() - start:5.1f}s", flush=True)


# -- the report -----------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main_rows(res: dict[str, dict], sizes: Sizes) -> list[tuple[str, ...]]:
    ours, theirs = res["jobsvc"], res["RQ"]

    def ratio_row(label: str, phase: str, target: float) -> tuple[str, ...]:
        mine, rq_rate = ours[phase]["median_rate"], theirs[phase]["median_rate"]
        ratio = mine / rq_rate
        return (
            label,
            f"{mine:.0f}",
            f"{rq_rate:.0f}",
            f"{ratio:.2f}",
            f">= {target}",
            verdict(ratio >= target),
        )

    p50 = ours["latency"]["p50"] / theirs["latency"]["p50"]
    p99 = ours["latency"]["p99"] / theirs["latency"]["p99"]
    mem_ours, mem_rq = ours["memory"]["per_task"], theirs["memory"]["per_task"]
    cmds, trips = ours["e2e"]["cmds"], ours["e2e"]["rtt"]
    kept, kept_after = ours["e2e"]["retained"], ours["e2e"]["retained_after"]
    return [
        ratio_row("(a) submit rate, tasks/s", "submit", SUBMIT_MIN_RATIO),
        ratio_row(
            f"(b) end-to-end, tasks/s ({sizes.workers} simple workers)", "e2e", E2E_MIN_RATIO
        ),
        ratio_row(
            f"(b') end-to-end, tasks/s ({sizes.workers} forking workers)", "e2e_fork", E2E_MIN_RATIO
        ),
        (
            "(c) enqueue->start p50, ms",
            f"{ours['latency']['p50']:.2f}",
            f"{theirs['latency']['p50']:.2f}",
            f"{p50:.2f}",
            "(info)",
            "",
        ),
        (
            "(c) enqueue->start p99, ms",
            f"{ours['latency']['p99']:.2f}",
            f"{theirs['latency']['p99']:.2f}",
            f"{p99:.2f}",
            f"<= {LATENCY_P99_MAX_RATIO}",
            verdict(p99 <= LATENCY_P99_MAX_RATIO),
        ),
        (
            "(d) Redis memory per queued task, B",
            f"{mem_ours:.0f}",
            f"{mem_rq:.0f}",
            f"{mem_ours / mem_rq:.2f}",
            f"jobsvc <= {MEMORY_MAX_BYTES} B",
            verdict(mem_ours <= MEMORY_MAX_BYTES),
        ),
        (
            "(b) Redis commands per task, workers",
            f"{cmds:.1f}",
            f"{theirs['e2e']['cmds']:.1f}",
            f"{cmds / theirs['e2e']['cmds']:.2f}",
            f"jobsvc <= {COMMANDS_MAX}",
            verdict(cmds <= COMMANDS_MAX),
        ),
        (
            "(b) round trips per task, workers",
            "n/a" if trips is None else f"{trips:.1f}",
            "n/a" if theirs["e2e"]["rtt"] is None else f"{theirs['e2e']['rtt']:.1f}",
            "",
            f"jobsvc <= {ROUND_TRIPS_MAX}",
            verdict(trips is not None and trips <= ROUND_TRIPS_MAX),
        ),
        (
            "(b) kept per completed task, live stream there, B",
            f"{kept:.0f}",
            f"{theirs['e2e']['retained']:.0f}",
            f"{kept / theirs['e2e']['retained']:.2f}",
            f"jobsvc <= {KEPT_MAX_BYTES} B",
            verdict(kept <= KEPT_MAX_BYTES),
        ),
        (
            "(b) kept per completed task, live stream gone, B",
            f"{kept_after:.0f}",
            f"{theirs['e2e']['retained_after']:.0f}",
            f"{kept_after / theirs['e2e']['retained_after']:.2f}",
            f"jobsvc <= {KEPT_AFTER_MAX_BYTES} B",
            verdict(kept_after <= KEPT_AFTER_MAX_BYTES),
        ),
        *steps_rows(ours),
    ]


def cost_rows(res: dict[str, dict]) -> list[tuple[str, ...]]:
    def row(
        label: str, ours: float | None, theirs: float | None, digits: int = 1
    ) -> tuple[str, ...]:
        fmt = lambda v: "n/a" if v is None else f"{v:.{digits}f}"  # noqa: E731
        ratio = "" if ours is None or theirs is None else f"{ours / theirs:.2f}"
        return (label, fmt(ours), fmt(theirs), ratio)

    ours, theirs = res["jobsvc"], res["RQ"]
    rows = []
    for phase, label in (
        ("submit", "(a) submit"),
        ("e2e", "(b) run, workers only"),
        ("e2e_fork", "(b') run, forking workers"),
    ):
        rows.append(
            row(f"{label}: Redis commands/task", ours[phase]["cmds"], theirs[phase]["cmds"])
        )
        rows.append(row(f"{label}: round trips/task", ours[phase]["rtt"], theirs[phase]["rtt"]))
    for phase, label in (("e2e", "(b)"), ("e2e_fork", "(b')")):
        rows.append(
            row(
                f"{label} CPU ms/task, worker processes",
                ours[phase]["cpu_workers_ms"],
                theirs[phase]["cpu_workers_ms"],
                2,
            )
        )
        rows.append(
            row(
                f"{label} CPU ms/task, redis-server",
                ours[phase]["cpu_redis_ms"],
                theirs[phase]["cpu_redis_ms"],
                2,
            )
        )
    rows.append(
        row(
            "(b) Redis memory kept per completed task, B",
            ours["e2e"]["retained"],
            theirs["e2e"]["retained"],
            0,
        )
    )
    rows.append(
        row(
            "(b) the same once the live streams are gone, B",
            ours["e2e"]["retained_after"],
            theirs["e2e"]["retained_after"],
            0,
        )
    )
    rows.append(
        row("(c) enqueue->start max, ms", ours["latency"]["max"], theirs["latency"]["max"], 2)
    )
    return rows


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def top_commands(calls: Counter[str], n: int, limit: int = 12) -> str:
    return ", ".join(f"{name} {count / n:.2f}" for name, count in calls.most_common(limit))


def top_keys(by_key: Counter[str], n: int, limit: int = 10) -> str:
    return "\n".join(
        f"      {size / n:7.0f} B/task  {kind}" for kind, size in by_key.most_common(limit)
    )


def report(res: dict[str, dict], sizes: Sizes) -> str:
    parts = [
        "",
        "Per-task Redis cost (server INFO commandstats incl. commands run inside Lua; "
        "client round trips counted in redis-py):",
        table(("cost", "jobsvc", "raw RQ", "ours/RQ"), cost_rows(res)),
        "",
    ]
    for phase, label in (("submit", "(a)"), ("e2e", "(b)"), ("e2e_fork", "(b')")):
        runs = "; ".join(
            f"{side} " + ", ".join(f"{r:.0f}" for r in res[side][phase]["trials"])
            for side in ("jobsvc", "RQ")
        )
        per_run = ", ".join(
            f"{a / b:.2f}"
            for a, b in zip(res["jobsvc"][phase]["trials"], res["RQ"][phase]["trials"])
        )
        parts.append(
            f"  {label} tasks/s of each run (median counts): {runs}; ratio per run: {per_run}"
        )
    for side in ("jobsvc", "RQ"):
        parts.append(
            f"  {side} commands/task, (a) submit: "
            f"{top_commands(res[side]['submit']['calls'], sizes.submit)}"
        )
        parts.append(
            f"  {side} commands/task, (b) run:    "
            f"{top_commands(res[side]['e2e']['calls'], sizes.e2e)}"
        )
        parts.append(
            f"  {side} commands/task, (b') run:   "
            f"{top_commands(res[side]['e2e_fork']['calls'], sizes.e2e_fork)}"
        )
    for side in ("jobsvc", "RQ"):
        parts.append(f"  {side} memory by key kind (MEMORY USAGE), {sizes.memory} queued:")
        parts.append(top_keys(res[side]["memory"]["by_key"], sizes.memory))
    parts += [
        "",
        "Summary (ratio = jobsvc / raw RQ):",
        table(SUMMARY_HEADER, main_rows(res, sizes)),
    ]
    return "\n".join(parts)


SUMMARY_HEADER = ("metric", "jobsvc", "raw RQ", "ratio", "target", "result")


def steps_report(steps: dict[str, dict], sizes: Sizes) -> str:
    """What ``--only-steps`` prints: (e) alone, with each side's commands."""
    lines = [
        f"  {k}-step tasks, commands/task: {top_commands(steps[f'steps{k}']['calls'], sizes.steps)}"
        for k in (0, 1, 3)
    ]
    header = ("metric", "3 steps", "other", "ratio", "target", "result")
    return "\n".join([*lines, "", table(header, steps_rows(steps))])


def describe(db: BenchRedis, sizes: Sizes, use_cli: bool) -> str:
    info = db.client.info("server")
    launcher = (
        "python -m jobsvc worker"
        if use_cli
        else "bench.jobsvc_worker (jobsvc CLI not importable; same run_worker)"
    )
    return (
        f"jobsvc vs raw RQ {rq.__version__} | Python {platform.python_version()} | "
        f"redis-py {redis.__version__} | redis-server {info['redis_version']} "
        f"(no AOF) | {os.cpu_count()} cores\n"
        f"N: submit {sizes.submit}, e2e {sizes.e2e}, e2e forking {sizes.e2e_fork}, latency "
        f"{sizes.latency} samples, memory {sizes.memory}; {sizes.deployments} deployments; "
        f"e2e workers {sizes.workers}, latency workers {sizes.latency_workers}; the same "
        f"worker class both sides (SimpleWorker but in (b')); {sizes.repeat} runs each\n"
        f"jobsvc: {jobsvc_revision()}; workers: {launcher}\n"
        f"load average at start: {load_average()}"
    )


def load_average() -> str:
    """Other processes share the 2 cores; the load average says how much."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def jobsvc_revision() -> str:
    """HEAD's short hash, and whether jobsvc/ differs from it (read-only git calls)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = git("status", "--porcelain", "--", "jobsvc")
    return f"{head}{' + uncommitted changes in jobsvc/' if dirty else ''}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__.split("\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="smaller N, one run of each phase (a smoke run, ~1 min)",
    )
    for name in (
        "submit",
        "e2e",
        "e2e-fork",
        "latency",
        "memory",
        "deployments",
        "workers",
        "latency-workers",
        "repeat",
        "steps",
    ):
        p.add_argument(f"--{name}", type=int, default=None, help=f"override N for {name}")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (Redis, worker logs)")
    p.add_argument(
        "--only-steps", action="store_true", help="run (e) alone: the cost of a task's steps"
    )
    return p.parse_args(argv)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: workers, Redis


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    overrides = {
        k: v for k, v in vars(args).items() if k in Sizes.__dataclass_fields__ and v is not None
    }
    sizes = replace(sizes, **overrides)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    rtt.install()
    tmp = Path(tempfile.mkdtemp(prefix="jobsvc-bench-"))
    db = BenchRedis(tmp / "redis").start()
    ok = False
    try:
        use_cli = jobsvc_cli_works()
        print(describe(db, sizes, use_cli), flush=True)
        if args.only_steps:
            print(steps_report(run_steps(db, sizes, tmp, use_cli), sizes))
        else:
            print(report(run(db, sizes, tmp, use_cli), sizes))
        print(f"load average at end: {load_average()}")
        ok = True
    except PhaseFailed as exc:
        print(f"\nphase failed: {exc}", file=sys.stderr)
    finally:
        db.stop()
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"(logs kept in {tmp})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
