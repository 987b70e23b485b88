"""GET /metrics: real Redis, a real HTTP server, real workers; parsed by prometheus_client."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from jobsvc import keys
from jobsvc.policy import REPAIR_KINDS, RUN_BUCKETS_S, WAIT_BUCKETS_S
from jobsvc.processes.reconcile import reconcile_all
from jobsvc.processes.retention import cleanup_ended
from jobsvc.settings import Settings
from jobsvc.store.metrics import Histogram
from jobsvc.web import create_app
from jobsvc.web.metrics import cumulative
from tests.api_client import assert_error, serve
from tests.conftest import ROOT
from tests.helpers import wait_ended, wait_until
from tests.metrics_types import ODD_TYPE

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"


def scrape(base_url: str, token: str | None = None) -> Samples:
    """Every sample of one scrape, parsed by prometheus_client's own parser."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = requests.get(base_url + "/metrics", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def buckets(samples: Samples, name: str, **labels: str) -> list[tuple[float, float]]:
    """(le, count) of a histogram's series, in bound order."""
    out = []
    for (sample, found), v in samples.items():
        found_labels = dict(found)
        le = found_labels.pop("le", None)
        if sample == name + "_bucket" and found_labels == labels and le is not None:
            out.append((float(le), v))
    return sorted(out)


def assert_histogram(samples: Samples, name: str, bounds: tuple[float, ...], **labels: str) -> None:
    """Cumulative buckets at the configured bounds, and +Inf equal to _count."""
    found = buckets(samples, name, **labels)
    assert [le for le, _ in found] == [*map(float, bounds), float("inf")], found
    counts = [n for _, n in found]
    assert counts == sorted(counts), f"{name} buckets are not cumulative: {found}"
    assert counts[-1] == value(samples, name + "_count", **labels)


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "JOBSVC_TASK_MODULES": "tests.task_types,tests.metrics_types"}


def test_counters_and_histograms_move_as_tasks_end(svc, web_server, make_worker):
    before = scrape(web_server)
    assert value(before, "jobsvc_tasks_ended_total", type="noop", status="completed") == 0
    ids = [svc.submit(f"lane-{i}", "noop").id for i in range(3)]
    flaky = svc.submit("lane-f", "fail", {"times": 1}, retries=1).id
    make_worker()
    for task_id in [*ids, flaky]:
        assert wait_ended(svc, task_id)["status"] == "completed"

    after = scrape(web_server)
    assert value(after, "jobsvc_tasks_ended_total", type="noop", status="completed") == 3
    assert value(after, "jobsvc_tasks_ended_total", type="fail", status="completed") == 1
    assert value(after, "jobsvc_tasks_ended_total", type="noop", status="failed") == 0
    assert value(after, "jobsvc_task_retries_total", type="fail") == 1
    assert value(after, "jobsvc_tasks", status="completed") == 4
    assert value(after, "jobsvc_tasks", status="queued") == 0
    # Both attempts of the flaky task ran: two run times, one wait.
    assert value(after, "jobsvc_task_duration_seconds_count", type="noop") == 3
    assert value(after, "jobsvc_task_duration_seconds_count", type="fail") == 2
    assert value(after, "jobsvc_task_wait_seconds_count", type="fail") == 1
    assert value(after, "jobsvc_task_duration_seconds_sum", type="noop") > 0
    assert value(after, "jobsvc_task_wait_seconds_sum", type="noop") > 0
    for type_ in ("noop", "fail"):
        assert_histogram(after, "jobsvc_task_duration_seconds", RUN_BUCKETS_S, type=type_)
        assert_histogram(after, "jobsvc_task_wait_seconds", WAIT_BUCKETS_S, type=type_)
    workers = wait_until(
        lambda: (
            lambda s: s if value(s, "jobsvc_workers", pool="standard", state="idle") else None
        )(scrape(web_server)),
        what="the worker to be listed idle",
    )
    assert value(workers, "jobsvc_workers", pool="standard", state="busy") == 0
    assert value(after, "jobsvc_lanes_busy") == 0
    assert value(after, "jobsvc_queue_depth_max") == 0
    assert svc.store.client.zcard(keys.DEPTHS) == 0  # lanes with none waiting leave it


def test_every_web_process_answers_the_same(svc, web_server, settings):
    """Figures come from Redis: a second app over the same Redis scrapes the same."""
    svc.submit("prod-eu", "noop")
    svc.submit("prod-eu", "noop")
    with serve(create_app(settings)) as other:
        assert scrape(web_server) == scrape(other)


def test_queue_depth_max_and_busy_lanes(svc, web_server):
    deep = [svc.submit("deep", "noop") for _ in range(4)]  # one active, three waiting
    svc.submit("shallow", "noop")
    svc.submit("shallow", "noop")
    samples = scrape(web_server)
    assert value(samples, "jobsvc_queue_depth_max") == 3
    assert value(samples, "jobsvc_lanes_busy") == 2
    assert value(samples, "jobsvc_tasks", status="queued") == 6

    svc.skip(deep[3].id)  # a waiting task ends: the lane is one shallower
    svc.cancel(deep[2].id)
    samples = scrape(web_server)
    assert value(samples, "jobsvc_queue_depth_max") == 1
    assert value(samples, "jobsvc_tasks_ended_total", type="noop", status="skipped") == 1
    assert value(samples, "jobsvc_tasks_ended_total", type="noop", status="canceled") == 1
    # Ended without running: counted, but no run time observed.
    assert value(samples, "jobsvc_task_duration_seconds_count", type="noop") == 0

    svc.retry(deep[2].id)  # back at the end of its lane
    assert value(scrape(web_server), "jobsvc_queue_depth_max") == 2
    for task in (deep[1], deep[2], deep[0]):
        svc.cancel(task.id)
    assert value(scrape(web_server), "jobsvc_queue_depth_max") == 1  # the shallow lane
    assert svc.store.client.zrange(keys.DEPTHS, 0, -1, withscores=True) == [("shallow", 1.0)]


def test_retention_never_decreases_a_counter(svc, web_server, make_worker):
    ids = [svc.submit(f"lane-{i}", "noop").id for i in range(2)]
    make_worker()
    for task_id in ids:
        wait_ended(svc, task_id)
    before = scrape(web_server)
    assert cleanup_ended(svc.store, days=0)[1] == 2  # (flagged, deleted)

    after = scrape(web_server)
    assert value(after, "jobsvc_tasks", status="completed") == 0  # a gauge: it may drop
    for (name, labels), v in before.items():
        if name.endswith(("_total", "_count", "_sum", "_bucket")):
            assert after.get((name, labels)) == v, (name, dict(labels))
    assert value(after, "jobsvc_tasks_ended_total", type="noop", status="completed") == 2


def test_repairs_are_counted_by_kind(svc, web_server, monkeypatch):
    with monkeypatch.context() as crash:  # the process dies between the Lua step and RQ
        crash.setattr(svc.store.dispatcher, "publish", lambda dispatch: None)
        lost = svc.submit("orphaned", "noop")
    assert reconcile_all(svc.store, orphan_grace_s=0).republished == [lost.id]

    t = svc.submit("stuck", "noop", retries=1)
    token = svc.store.claim(t.id, "test").token
    for reason in ("stalled", "no_such_kind"):  # a kind policy does not list is not counted
        code = svc.store.reap(
            t.id, "stuck", token, reason=reason, error={}, backoff_ms=0, force=True
        )
        token = svc.store.claim(t.id, "test").token if code == "retry" else token

    svc.pause("held")
    svc.submit("held", "noop")
    svc.store.client.hdel(keys.lane("held"), "paused")  # resumed without a promotion
    assert reconcile_all(svc.store).promoted == ["held"]

    samples = scrape(web_server)
    counted = {kind: value(samples, "jobsvc_repairs_total", kind=kind) for kind in REPAIR_KINDS}
    assert counted == {
        "orphan": 1,
        "worker_lost": 0,
        "stalled": 1,
        "timeout": 0,
        "stuck_lane": 1,
    }


def test_odd_type_names_are_escaped_by_prometheus_client(svc, web_server, make_worker):
    t = svc.submit("prod-eu", ODD_TYPE)
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "completed"
    text = requests.get(web_server + "/metrics", timeout=30).text
    assert 'type="odd \\"type\\"\\\\ with\\na newline"' in text
    samples = scrape(web_server)
    assert value(samples, "jobsvc_tasks_ended_total", type=ODD_TYPE, status="completed") == 1


def test_webhook_deliveries_are_read_from_the_webhook_store_s_tallies(svc, web_server):
    samples = scrape(web_server)
    for outcome in ("delivered", "failed"):
        assert value(samples, "jobsvc_webhook_deliveries_total", status=outcome) == 0
    # As hook_end.lua tallies ended deliveries (tests/test_webhooks.py sends real ones).
    svc.store.client.hincrby(keys.HOOK_COUNTS, "delivered", 7)
    svc.store.client.hincrby(keys.HOOK_COUNTS, "failed", 2)
    samples = scrape(web_server)
    assert value(samples, "jobsvc_webhook_deliveries_total", status="delivered") == 7
    assert value(samples, "jobsvc_webhook_deliveries_total", status="failed") == 2


def test_openmetrics_when_the_scraper_asks_for_it(svc, web_server):
    svc.submit("prod-eu", "noop")
    accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
    r = requests.get(web_server + "/metrics", headers=accept, timeout=30)
    assert r.headers["Content-Type"].startswith("application/openmetrics-text"), r.headers
    families = {f.name: f for f in openmetrics_families(r.text)}
    assert families["jobsvc_tasks"].type == "gauge"
    assert families["jobsvc_tasks_ended"].type == "counter"
    assert families["jobsvc_task_duration_seconds"].type == "histogram"


# -- auth ------------------------------------------------------------------------------


def test_metrics_need_a_token_when_tokens_are_configured(env):
    settings = Settings.from_env(
        {**env, "JOBSVC_API_TOKENS": "ci:full-token", "JOBSVC_READ_TOKENS": "viewer:read-token"}
    )
    with serve(create_app(settings)) as base:
        assert_error(requests.get(base + "/metrics", timeout=30), 401, "unauthorized")
        bad = {"Authorization": "Bearer nope"}
        assert_error(requests.get(base + "/metrics", headers=bad, timeout=30), 401)
        assert value(scrape(base, "read-token"), "jobsvc_lanes_busy") == 0
        assert value(scrape(base, "full-token"), "jobsvc_lanes_busy") == 0


def test_metrics_in_loopback_mode_refuse_a_foreign_host(web_server):
    r = requests.get(web_server + "/metrics", headers={"Host": "evil.example"}, timeout=30)
    assert_error(r, 403, "bad_host")


# -- pure logic --------------------------------------------------------------------------


def test_tallies_written_under_other_bounds_land_in_a_bucket_that_holds_them():
    tallied = Histogram()
    tallied.buckets.update({"100000": 2, "700000": 1, "5000000": 1, "inf": 1})  # 0.1, 0.7, 5 s
    assert cumulative((0.5, 1, 10), tallied) == [
        ("0.5", 2.0),
        ("1.0", 3.0),
        ("10.0", 4.0),
        ("+Inf", 5.0),
    ]


def test_the_grafana_dashboard_uses_only_exposed_metrics(svc, web_server, make_worker):
    t = svc.submit("prod-eu", "noop")
    make_worker()
    wait_ended(svc, t.id)
    exposed = {name for name, _ in scrape(web_server)}
    dashboard = json.loads(Path(DASHBOARD).read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bjobsvc_[a-z_]+", expr)}
    assert used, "the dashboard queries no jobsvc metric"
    assert used <= exposed, used - exposed
    contract = {
        "jobsvc_tasks",
        "jobsvc_tasks_ended_total",
        "jobsvc_task_duration_seconds_bucket",
        "jobsvc_task_wait_seconds_bucket",
        "jobsvc_lanes_busy",
        "jobsvc_queue_depth_max",
        "jobsvc_workers",
        "jobsvc_webhook_deliveries_total",
        "jobsvc_repairs_total",
    }
    assert contract <= used, contract - used
