"""What ``GET /metrics`` shows, read from Redis at scrape time.

Mixed into ``TaskStore``.  Every figure is in Redis, written by the scripts
in the same step as the transitions they count (``_lib.lua``'s
``observe_end``, ``observe_wait``, ``repaired``, the lanes' depths), so any
web process answers the same and workers need no HTTP port.  The task
figures are one MULTI (one round trip); the workers are RQ's registry, read
as ``GET /stats`` reads them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import keys
from ..dispatch import NO_POOL, with_running, worker_counts
from ..states import Status
from ..webhooks.model import ENDED_DELIVERY_STATUSES
from .figures import Figures
from .text import text


@dataclass
class Histogram:
    """Tallied observations: count per bucket as the scripts wrote them (upper
    bound in µs as text, or ``inf``; not cumulative) and their sum in µs."""

    buckets: Counter[str] = field(default_factory=Counter)
    sum_us: int = 0


@dataclass
class MetricFigures:
    """Everything one scrape shows, as plain numbers."""

    tasks: dict[str, int]  # status -> tasks in it now
    lanes_busy: int  # lanes with an active or waiting task
    depth_max: int  # the deepest lane's waiting tasks
    ended: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, status)
    retried: Counter[str] = field(default_factory=Counter)  # type -> attempts retried
    durations: dict[str, Histogram] = field(default_factory=dict)  # type -> run times
    waits: dict[str, Histogram] = field(default_factory=dict)  # type -> waits
    repairs: Counter[str] = field(default_factory=Counter)  # kind
    workers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (pool, state)
    webhook_deliveries: dict[str, int] = field(default_factory=dict)  # outcome


def _end(figures: MetricFigures, parts: list[str], n: int) -> None:
    status, bucket, type_ = parts
    if status == keys.RETRIED:
        figures.retried[type_] += n
    else:
        figures.ended[(type_, status)] += n
    if bucket != keys.NO_RUN:
        figures.durations.setdefault(type_, Histogram()).buckets[bucket] += n


def _wait(figures: MetricFigures, parts: list[str], n: int) -> None:
    bucket, type_ = parts
    figures.waits.setdefault(type_, Histogram()).buckets[bucket] += n


def add_tallies(figures: MetricFigures, tallies: dict[str, str]) -> None:
    """Sorts the fields of ``keys.TALLIES`` into the figures (a field of a kind
    this version does not know is left out)."""
    for name, value in tallies.items():
        kind, parts = keys.parse_tally(name)
        n = int(value)
        if not parts:
            continue
        if kind == "end":
            _end(figures, parts, n)
        elif kind == "wait":
            _wait(figures, parts, n)
        elif kind == "run_us":
            figures.durations.setdefault(parts[0], Histogram()).sum_us += n
        elif kind == "wait_us":
            figures.waits.setdefault(parts[0], Histogram()).sum_us += n
        elif kind == "repair":
            figures.repairs[parts[0]] += n


def worker_states(
    workers: list[dict[str, Any]], running: dict[str, str]
) -> Counter[tuple[str, str]]:
    """(pool, busy|idle) -> workers, by the listings' rule (``dispatch.worker_counts``);
    a worker of no pool is left out."""
    out: Counter[tuple[str, str]] = Counter()
    for pool, counts in worker_counts(with_running(workers, running)).items():
        if pool != NO_POOL:
            out.update({(pool, state): n for state, n in counts.items()})
    return out


class Metrics(Figures):
    if TYPE_CHECKING:  # store/hooks.py's, in TaskStore beside this mixin

        def webhook_counts(self) -> dict[str, int]: ...

    def metric_figures(self) -> MetricFigures:
        """The figures of one scrape: task counts, tallies, busy lanes and the
        deepest one in one MULTI; then the workers and the webhook deliveries."""
        with self.client.pipeline(transaction=True) as pipe:
            for s in Status:
                pipe.zcard(keys.by_status(s.value))
            pipe.hgetall(keys.TALLIES)
            pipe.scard(keys.BUSY)
            pipe.zrevrange(keys.DEPTHS, 0, 0, withscores=True)
            *by_status, tallies, busy, deepest = pipe.execute()
        figures = MetricFigures(
            tasks={s.value: int(n) for s, n in zip(Status, by_status)},
            lanes_busy=int(busy),
            depth_max=max(0, int(deepest[0][1])) if deepest else 0,
        )
        add_tallies(figures, {text(k): text(v) for k, v in tallies.items()})
        figures.workers = worker_states(self.dispatcher.workers(), self.running_by_worker())
        figures.webhook_deliveries = self.webhook_deliveries()
        return figures

    def webhook_deliveries(self) -> dict[str, int]:
        """Deliveries by outcome, from the webhook store's tallies (``Hooks.webhook_counts``,
        mixed into the same ``TaskStore``): counters that only grow."""
        found = self.webhook_counts()
        return {outcome: int(found.get(outcome, 0)) for outcome in ENDED_DELIVERY_STATUSES}
