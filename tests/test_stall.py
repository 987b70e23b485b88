"""Stall and overdue detection: silent handlers, hung handlers, heartbeats."""

from __future__ import annotations

from jobsvc.processes.reconcile import reconcile_all
from tests.helpers import wait_ended, wait_until


def test_handler_that_prints_nothing_is_stopped_as_stalled(svc, make_worker):
    t = svc.submit("prod-eu", "silent")
    nxt = svc.submit("prod-eu", "noop")
    make_worker()
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    wait_until(
        lambda: t.id in reconcile_all(svc.store).stalled,
        timeout=15,
        what="stall detection",
        interval=0.2,
    )
    done = svc.store.get(t.id)
    assert done["status"] == "failed" and done["error"]["reason"] == "stalled"
    # The same worker is free again: its runner saw the attempt fenced off.
    assert wait_ended(svc, nxt.id)["status"] == "completed"


def test_hung_handler_is_stalled_and_retried(svc, make_worker):
    t = svc.submit("prod-eu", "hang", timeout=600, retries=1)
    svc.store.client.hset(f"jobsvc:t:{t.id}", "stallS", 1)
    make_worker()
    wait_until(
        lambda: t.id in reconcile_all(svc.store).stalled,
        timeout=15,
        what="stall detection",
        interval=0.2,
    )
    assert "retry: stalled" in [h.get("reason") for h in svc.store.get(t.id)["history"]]


def test_heartbeats_keep_a_quiet_handler_alive(svc, make_worker):
    t = svc.submit("prod-eu", "beating", {"beats": 15})
    make_worker()

    def done_without_stalling() -> bool:
        assert reconcile_all(svc.store).stalled == []
        return svc.get(t.id).status == "completed"

    wait_until(done_without_stalling, timeout=20, what="the task to end", interval=0.1)
    assert svc.get(t.id).result == "done"
