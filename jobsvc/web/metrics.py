"""``GET /metrics``: the Prometheus exposition, written by prometheus_client.

Each app has a registry of its own holding one collector, which reads the
figures from Redis through the Service at every scrape (``store/metrics.py``),
so every web process answers the same and nothing is kept per process (no
multiprocess mode).  Auth is the API's (``auth.py``: ``/metrics`` is not an
open path).  The metrics, their labels and bounds: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..dispatch import BUSY, IDLE
from ..policy import REPAIR_KINDS, RUN_BUCKETS_S, US, WAIT_BUCKETS_S
from ..states import Status
from ..store.metrics import Histogram, MetricFigures
from .ext import get_service

bp = Blueprint("metrics", __name__)
# Where the app keeps its registry (``app.extensions``).
REGISTRY = "jobsvc.metrics"


class StoreCollector(Collector):
    """Yields every metric from figures read anew at each scrape."""

    def __init__(self, read: Callable[[], MetricFigures]):
        self.read = read

    def collect(self) -> Iterator[Metric]:
        return iter(families(self.read()))


def init_app(app: Flask) -> None:
    """A registry per app: the process-wide default would also export Python's
    own process metrics, and collect once at registration (a Redis read at start)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(lambda: get_service().metrics()))
    app.extensions[REGISTRY] = registry


@bp.get("/metrics")
def metrics() -> Response:
    """The text format, or OpenMetrics when the scraper asks for it (``Accept``), as
    prometheus_client's own server chooses.  Redis down: the collector's read
    raises, and the error handler answers 503."""
    registry: CollectorRegistry = current_app.extensions[REGISTRY]
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), content_type=content_type)


def cumulative(bounds_s: tuple[float, ...], tallied: Histogram) -> list[tuple[str, float]]:
    """Prometheus buckets (cumulative, ending with ``+Inf``) from tallied ones.

    A tallied bucket is its upper bound in µs: an observation counts in every
    bucket whose bound is at least that, so a tally written under other bounds
    still lands in a bucket that holds it."""
    out = []
    for bound in bounds_s:
        limit = int(bound * US)
        n = sum(c for b, c in tallied.buckets.items() if b != "inf" and int(b) <= limit)
        out.append((repr(float(bound)), float(n)))
    out.append(("+Inf", float(sum(tallied.buckets.values()))))
    return out


def _histogram(
    name: str, doc: str, bounds_s: tuple[float, ...], by_type: dict[str, Histogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=["type"])
    for type_, tallied in sorted(by_type.items()):
        family.add_metric([type_], cumulative(bounds_s, tallied), tallied.sum_us / US)
    return family


def task_families(f: MetricFigures) -> list[Metric]:
    """The tasks: counts now, ends and retries by type, run and wait histograms."""
    tasks = GaugeMetricFamily("jobsvc_tasks", "Tasks in each status now.", labels=["status"])
    for status in Status:
        tasks.add_metric([status.value], f.tasks.get(status.value, 0))
    ended = CounterMetricFamily(
        "jobsvc_tasks_ended", "Tasks ended, by type and status.", labels=["type", "status"]
    )
    types = sorted(set(chain((t for t, _ in f.ended), f.retried, f.durations, f.waits)))
    for type_ in types:
        for status in (s for s in Status if s.ended):
            ended.add_metric([type_, status.value], f.ended.get((type_, status.value), 0))
    retried = CounterMetricFamily(
        "jobsvc_task_retries", "Failed attempts queued again for a retry.", labels=["type"]
    )
    for type_ in types:
        retried.add_metric([type_], f.retried.get(type_, 0))
    return [
        tasks,
        ended,
        retried,
        _histogram(
            "jobsvc_task_duration_seconds",
            "Run time of ended attempts, from their start to their end.",
            RUN_BUCKETS_S,
            f.durations,
        ),
        _histogram(
            "jobsvc_task_wait_seconds",
            "Time from a task's acceptance to its first start.",
            WAIT_BUCKETS_S,
            f.waits,
        ),
    ]


def service_families(f: MetricFigures) -> list[Metric]:
    """Lanes, workers, repairs and webhook deliveries."""
    workers = GaugeMetricFamily(
        "jobsvc_workers", "Workers registered, by pool and state.", labels=["pool", "state"]
    )
    for pool in sorted({pool for pool, _ in f.workers}):
        for state in (BUSY, IDLE):
            workers.add_metric([pool, state], f.workers.get((pool, state), 0))
    repairs = CounterMetricFamily(
        "jobsvc_repairs", "Repairs made by the reconciler, by kind.", labels=["kind"]
    )
    for kind in REPAIR_KINDS:
        repairs.add_metric([kind], f.repairs.get(kind, 0))
    webhooks = CounterMetricFamily(
        "jobsvc_webhook_deliveries", "Webhook deliveries ended, by outcome.", labels=["status"]
    )
    for outcome, n in f.webhook_deliveries.items():
        webhooks.add_metric([outcome], n)
    return [
        GaugeMetricFamily(
            "jobsvc_lanes_busy", "Lanes with an active or waiting task.", value=f.lanes_busy
        ),
        GaugeMetricFamily(
            "jobsvc_queue_depth_max",
            "Tasks waiting in the deepest lane (behind its active task).",
            value=f.depth_max,
        ),
        workers,
        repairs,
        webhooks,
    ]


def families(f: MetricFigures) -> list[Metric]:
    return task_families(f) + service_families(f)
