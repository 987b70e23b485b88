"""Figures of one ``bench/viewers.py`` phase, and how they are printed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

P99_TARGET_MS = 250.0
RELAY_TARGET = 4
HEADER = (
    "N",
    "connected",
    "msgs/s delivered / written",
    "p50 ms",
    "p99 ms",
    "CPU %",
    "RSS MB",
    "relay conns",
    "Redis conns (peak)",
    "threads",
    "target",
)


@dataclass
class Phase:
    n: int
    connected: int = 0
    connect_s: float = 0.0
    msgs_per_s: float = 0.0
    # Lines the tickers wrote per second in the window, times viewers per task.
    due_per_s: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    max_ms: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0
    relay: int = 0
    total: int = 0
    peak_total: int = 0
    threads: int = 0
    extra: dict = field(default_factory=dict)
    timeline: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.connected == self.n and self.p99 <= P99_TARGET_MS and self.relay <= RELAY_TARGET


def percentile(hist: Counter, q: float) -> float:
    """The q-quantile of a 0.1 ms-bucket histogram, in ms (bucket upper edge)."""
    total = sum(hist.values())
    if not total:
        return float("nan")
    rank, seen = q * total, 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return (bucket + 1) / 10
    return (max(hist) + 1) / 10


def add_viewer_results(phase: Phase, results: list[dict], seconds: float) -> None:
    """Merges what every viewer process reported into the phase."""
    hist: Counter = Counter()
    for r in results:
        hist.update({int(k): v for k, v in r["hist"].items()})
    phase.msgs_per_s = sum(r["msgs"] for r in results) / seconds
    phase.p50, phase.p99 = percentile(hist, 0.50), percentile(hist, 0.99)
    phase.p999, phase.max_ms = percentile(hist, 0.999), percentile(hist, 1.0)
    phase.timeline = merge_seconds(results)
    shakes = sorted(s for r in results for s in r["handshake_s"]) or [0.0]
    phase.extra.update(
        {
            "viewers open at end": sum(r["open"] for r in results),
            "closed": dict(sum((Counter(r["closed"]) for r in results), Counter())),
            "gaps": sum(r["gaps"] for r in results),
            "dups": sum(r["dups"] for r in results),
            "client loop lag p99/max ms": (
                round(max(r["lag_p99_ms"] for r in results), 1),
                round(max(r["lag_max_ms"] for r in results), 1),
            ),
            "client processes": len(results),
            "handshake p50/max s": (round(shakes[len(shakes) // 2], 2), round(shakes[-1], 2)),
        }
    )


def merge_seconds(results: list[dict]) -> list[tuple[int, int, float, float]]:
    """(second, lines, mean latency ms, max latency ms) over every viewer process."""
    merged: dict[int, list[float]] = {}
    for r in results:
        for second, (lines, total, worst) in r["seconds"].items():
            acc = merged.setdefault(int(second), [0, 0.0, 0.0])
            acc[0] += lines
            acc[1] += total
            acc[2] = max(acc[2], worst)
    return [
        (sec, int(n), total / n * 1000, worst * 1000)
        for sec, (n, total, worst) in sorted(merged.items())
    ]


def print_phase(phase: Phase, step: int = 5) -> None:
    """The phase's details, and lines/s and latency in ``step``-second slices."""
    print(
        f"N={phase.n}: connected {phase.connected} in {phase.connect_s:.1f}s; "
        f"p99.9 {phase.p999:.1f} ms, max {phase.max_ms:.1f} ms"
    )
    for name, value in phase.extra.items():
        print(f"  {name}: {value}")
    if not phase.timeline:
        return
    first = phase.timeline[0][0]
    slices: dict[int, list] = {}
    for sec, n, mean, worst in phase.timeline:
        acc = slices.setdefault((sec - first) // step, [0, 0.0, 0.0])
        acc[0] += n
        acc[1] += mean * n
        acc[2] = max(acc[2], worst)
    print("  timeline from the first line received (lines/s, mean ms, max ms):")
    print(
        "   "
        + "  ".join(
            f"{k * step}s: {n / step:,.0f}, {total / n:,.0f}, {worst:,.0f}"
            for k, (n, total, worst) in sorted(slices.items())
            if n
        ),
        flush=True,
    )


def table(phases: list[Phase]) -> str:
    rows = [HEADER] + [
        (
            f"{p.n:,}",
            f"{p.connected:,}",
            f"{p.msgs_per_s:,.0f} / {p.due_per_s:,.0f}",
            f"{p.p50:.1f}",
            f"{p.p99:.1f}",
            f"{p.cpu:.0f}",
            f"{p.rss_mb:.0f}",
            str(p.relay),
            f"{p.total} ({p.peak_total})",
            str(p.threads),
            "pass" if p.passed else "FAIL",
        )
        for p in phases
    ]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(HEADER))
    return "\n".join(lines)
