"""What ``python -m bench.scale`` prints: the setup, each phase's details, and
every scale target of issue 8 with PASS/FAIL.

The targets are set for the full size (1,000,000 queued tasks over 100,000
lanes); a smaller run prints them too, and says it is smaller.
"""

from __future__ import annotations

import os
import platform
from statistics import median
from typing import TYPE_CHECKING

import redis

from bench.core import jobsvc_revision, load_average, table, verdict
from bench.harness import BenchRedis

if TYPE_CHECKING:
    from bench.scale import Sizes

# The size the targets are set for.
FULL_TASKS = 1_000_000
FULL_LANES = 100_000
# Targets of issue 8 at that size.
SUBMIT_MIN_RATIO = 0.9  # submit rate at full depth / on an empty Redis
RECONCILE_MAX_MS = 50.0  # Redis time of one pass when nothing is late
PAGING_MAX_RATIO = 2.0  # a deep page's p50 / the first page's
MEMORY_MAX_BYTES = 700  # Redis per queued task

Row = tuple[str, ...]


def describe(db: BenchRedis, sizes: Sizes) -> str:
    server, memory = db.client.info("server"), db.client.info("memory")
    levels = ", ".join(f"{x:,}" for x in sizes.levels)
    return (
        f"jobsvc at scale | Python {platform.python_version()} | redis-py {redis.__version__} | "
        f"redis-server {server['redis_version']} ({memory['mem_allocator']}, no AOF) | "
        f"{os.cpu_count()} cores\n"
        f"{sizes.tasks:,} tasks over {sizes.lanes:,} lanes ({sizes.per_lane} per lane); "
        f"submit levels {levels}, {sizes.runs} x {sizes.submits:,} timed submits each (own "
        f"lanes, {sizes.per_lane} per lane), alternating with a Redis kept empty; loaded by "
        f"{sizes.loaders} processes through Service.submit; drain {sizes.drain:,} through "
        f"{sizes.workers} x jobsvc worker --worker-class {sizes.worker_class}; "
        f"{sizes.samples} paging samples\n"
        f"jobsvc: {jobsvc_revision()}\n"
        f"load average at start: {load_average()}"
    )


def report(res: dict, sizes: Sizes) -> str:
    header = ("metric", "measured", "reference", "ratio", "target", "result")
    full = sizes.tasks == FULL_TASKS and sizes.lanes == FULL_LANES
    scope = (
        ""
        if full
        else f" (targets are set for {FULL_TASKS:,} over {FULL_LANES:,}; this run is smaller)"
    )
    return "\n".join(
        [
            *details(res, sizes),
            "",
            f"Summary at {sizes.tasks:,} queued over {sizes.lanes:,} lanes{scope}:",
            table(header, summary_rows(res, sizes)),
        ]
    )


# -- the summary --------------------------------------------------------------------


def summary_rows(res: dict, sizes: Sizes) -> list[Row]:
    return [
        *submit_rows(res["submit"], sizes),
        memory_row(res["memory"]),
        *reconcile_rows(res["reconcile"]),
        *paging_rows(res["paging"]),
        drain_row(res, sizes),
    ]


def submit_rows(submit: dict, sizes: Sizes) -> list[Row]:
    """Best rate at each level against the best on the empty reference Redis,
    and the Redis time per submit at full depth."""
    rows: list[Row] = []
    for level in sizes.levels:
        deep, ref = max(submit[level]["deep"]["rates"]), max(submit[level]["ref"]["rates"])
        ratio, judged = deep / ref, level == sizes.tasks
        label = (
            "submit rate, both empty (control)"
            if level == 0
            else f"submit rate at {level:,} queued"
        )
        rows.append(
            (
                f"{label}, tasks/s",
                f"{deep:.0f}",
                f"{ref:.0f}",
                f"{ratio:.2f}",
                f">= {SUBMIT_MIN_RATIO}x" if judged else "(info)",
                verdict(ratio >= SUBMIT_MIN_RATIO) if judged else "",
            )
        )
    full = submit[sizes.tasks]
    deep_us, ref_us = median(full["deep"]["redis_us"]), median(full["ref"]["redis_us"])
    rows.append(
        (
            f"Redis time per submit at {sizes.tasks:,} queued, us (median)",
            f"{deep_us:.0f}",
            f"{ref_us:.0f}",
            f"{deep_us / ref_us:.2f}",
            "(info)",
            "",
        )
    )
    return rows


def memory_row(memory: dict) -> Row:
    per_task = memory["per_task"]
    return (
        "Redis memory per queued task, B",
        f"{per_task:.0f}",
        "",
        "",
        f"<= {MEMORY_MAX_BYTES} B",
        verdict(per_task <= MEMORY_MAX_BYTES),
    )


def reconcile_rows(passes: dict) -> list[Row]:
    """The target is the median of the steady passes (nothing late, at the
    scheduler's cadence); the first pass, every lane due once, is the cost of a
    look per lane."""
    steady, first = passes["steady"], passes["first"]
    ms = [one["window"].redis_us / 1000 for one in steady]
    middle = median(ms)
    lanes = steady[-1]["lanes"]
    return [
        (
            f"reconcile pass, Redis ms ({lanes:,} busy lanes, nothing late; median of {len(ms)})",
            f"{middle:.1f}",
            "",
            "",
            f"<= {RECONCILE_MAX_MS:.0f} ms",
            verdict(middle <= RECONCILE_MAX_MS),
        ),
        (
            "reconcile steady passes, Redis ms, each",
            " ".join(f"{m:.1f}" for m in ms),
            "",
            "",
            "(info)",
            "",
        ),
        (
            "reconcile pass, wall s (median)",
            f"{median(one['window'].wall_s for one in steady):.2f}",
            "",
            "",
            "(info)",
            "",
        ),
        (
            "reconcile first pass (every lane due), Redis ms",
            f"{first['window'].redis_us / 1000:.1f}",
            "",
            "",
            "(info)",
            "",
        ),
    ]


def paging_rows(pages: dict) -> list[Row]:
    rows: list[Row] = []
    for path, page in pages.items():
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
    return rows


def drain_row(res: dict, sizes: Sizes) -> Row:
    deep, empty = res["drain_deep"]["rate"], res["drain_empty"]["rate"]
    return (
        f"drain through {sizes.workers} workers at depth / empty, tasks/s",
        f"{deep:.0f}",
        f"{empty:.0f}",
        f"{deep / empty:.2f}",
        "(info)",
        "",
    )


# -- the details ----------------------------------------------------------------------


def details(res: dict, sizes: Sizes) -> list[str]:
    lines = [""]
    for level, sub in res["submit"].items():
        lines += submit_lines(level, sub)
    lines += memory_lines(res["memory"])
    for one in [res["reconcile"]["first"], *res["reconcile"]["steady"]]:
        lines += reconcile_lines(one)
    for path, page in res["paging"].items():
        depth = page["depth"]
        lines.append(
            f"  GET {path}: deep page after {depth.walked:,} items ({depth.pages} "
            f"pages walked in {depth.seconds:.1f}s), {page['deep_items']} items on "
            f"it; {sizes.samples} requests of each page"
        )
    for label in ("drain_empty", "drain_deep"):
        d = res[label]
        lines.append(
            f"  {label}: {d['tasks']:,} tasks in {d['seconds']:.1f}s, "
            f"{d['rate']:.0f} tasks/s ({sizes.workers} x jobsvc worker "
            f"--worker-class {sizes.worker_class})"
        )
    return lines


def submit_lines(level: int, sub: dict) -> list[str]:
    load = f" (loaded to {level:,} in {sub['load_s']:.1f}s)" if sub["load_s"] else ""
    lines = [f"  submit at {level:,} queued{load}, each run (best rate counts):"]
    for side in ("deep", "ref"):
        runs = ", ".join(
            f"{rate:.0f}/s {us:.0f}us"
            for rate, us in zip(sub[side]["rates"], sub[side]["redis_us"])
        )
        lines.append(f"      {side}: {runs}")
    return lines


def memory_lines(memory: dict) -> list[str]:
    lines = [
        f"  memory: {memory['per_task']:.0f} B per queued task over "
        f"{memory['queued']:,} queued; by key kind (MEMORY USAGE):"
    ]
    for kind, size in memory["by_key"].most_common(12):
        lines.append(f"      {size / memory['queued']:7.1f} B/task  {kind}")
    return lines


def reconcile_lines(one: dict) -> list[str]:
    w, lanes = one["window"], max(1, one["lanes"])
    top = ", ".join(
        f"{name} {us / 1000:.1f} ms ({w.sent[name]:,})" for name, us in w.by_command[:8]
    )
    return [
        f"  reconcile, orphan grace {one['grace_s']:g} s: {one['lanes']:,} busy lanes "
        f"({one['indexed']:,} in the index after), wall "
        f"{w.wall_s:.2f}s, Redis {w.redis_us / 1000:.1f} ms ({w.redis_us / lanes:.1f} us/lane), "
        f"redis-server CPU {w.cpu_s * 1000:.0f} ms, {w.round_trips:,} round trips "
        f"({w.round_trips / lanes:.1f}/lane), repairs: {one['repairs'] or 'none'}",
        f"      Redis time by command (calls sent): {top}",
    ]
