"""Crash repairs: a dispatch lost between promote and enqueue, an attempt whose process died."""

from __future__ import annotations

import os
import signal

from jobsvc.processes.reconcile import reconcile_all
from tests.helpers import wait_ended, wait_until


def test_dispatch_lost_after_promote_is_republished(svc, make_worker, monkeypatch):
    with monkeypatch.context() as crash:  # the process dies right after the Lua step
        crash.setattr(svc.store.dispatcher, "publish", lambda dispatch: None)
        t = svc.submit("prod-eu", "noop")
    assert svc.store.client.exists(f"rq:job:{t.id}") == 0
    report = reconcile_all(svc.store, orphan_grace_s=0)
    assert report.republished == [t.id]
    # Now queued in RQ: a second pass changes nothing.
    assert reconcile_all(svc.store, orphan_grace_s=0).republished == []
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "completed"


def test_recent_dispatch_is_left_alone(svc, monkeypatch):
    with monkeypatch.context() as crash:
        crash.setattr(svc.store.dispatcher, "publish", lambda dispatch: None)
        svc.submit("prod-eu", "noop")
    assert reconcile_all(svc.store).republished == []  # within ORPHAN_GRACE_S


def test_killed_worker_attempt_is_retried_on_another_worker(svc, make_worker, tmp_path):
    gate = tmp_path / "go"
    t = svc.submit("prod-eu", "wait_file", {"path": str(gate)}, retries=1)
    doomed = make_worker()
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    os.killpg(doomed.pid, signal.SIGKILL)
    # The lease (3 s in tests) expires; only then may the attempt be reaped.
    assert reconcile_all(svc.store).reaped == []
    wait_until(
        lambda: reconcile_all(svc.store).reaped == [t.id],
        timeout=10,
        what="the lease to expire and the attempt to be reaped",
        interval=0.2,
    )
    gate.touch()
    make_worker()
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed" and done["retryCount"] == 1
    assert "retry: worker_lost" in [h.get("reason") for h in done["history"]]


def test_lost_attempt_without_retries_fails_as_worker_lost(svc, make_worker, tmp_path):
    t = svc.submit("prod-eu", "wait_file", {"path": str(tmp_path / "never")})
    nxt = svc.submit("prod-eu", "noop")
    doomed = make_worker()
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    os.killpg(doomed.pid, signal.SIGKILL)
    wait_until(lambda: reconcile_all(svc.store).reaped, timeout=10, what="reap", interval=0.2)
    done = svc.store.get(t.id)
    assert done["status"] == "failed" and done["error"]["reason"] == "worker_lost"
    make_worker()
    assert wait_ended(svc, nxt.id)["status"] == "completed"


def test_stale_attempt_writes_are_refused(svc):
    t = svc.submit("prod-eu", "noop", retries=1)
    claim = svc.store.claim(t.id, "test")
    token = claim.token
    assert svc.store.output(t.id, token, "log", ["mine"])
    code = svc.store.reap(
        t.id,
        "prod-eu",
        token,
        reason="stalled",
        error={"reason": "stalled"},
        backoff_ms=0,
        force=True,
    )
    assert code == "retry"
    assert not svc.store.output(t.id, token, "log", ["late"])
    assert svc.store.heartbeat("prod-eu", t.id, token) == "lost"
    assert svc.store.finish(t.id, "prod-eu", token, outcome="completed").code == "stale"
    assert svc.store.log(t.id) == "mine\n"


def test_idle_lane_with_waiting_tasks_is_promoted(svc, make_worker):
    svc.pause("prod-eu")
    t = svc.submit("prod-eu", "noop")
    svc.store.client.hdel("jobsvc:lane:prod-eu", "paused")  # resumed without a promotion
    assert reconcile_all(svc.store).promoted == ["prod-eu"]
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "completed"
