"""Graceful drain and worker shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from jobsvc.processes.reconcile import reconcile_all
from tests.conftest import ROOT
from tests.helpers import jobsvc, wait_ended, wait_until


def test_drain_waits_for_running_tasks_and_starts_nothing_new(svc, env, make_worker, tmp_path):
    gate = tmp_path / "go"
    running = svc.submit("prod-eu", "wait_file", {"path": str(gate)})
    make_worker()
    wait_until(lambda: svc.get(running.id).status == "running", what="task to run")
    drain = subprocess.Popen(
        [sys.executable, "-m", "jobsvc", "drain", "--timeout", "30"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: svc.stats()["draining"], what="the drain flag")
    behind = svc.submit("prod-eu", "noop")
    elsewhere = svc.submit("prod-us", "noop")  # accepted, but nothing new starts
    assert elsewhere.status == "queued" and svc.deployment("prod-us")["activeTaskId"] is None
    gate.touch()
    out, _ = drain.communicate(timeout=30)
    assert drain.returncode == 0 and "drained" in out and "1 task(s) running" in out
    assert svc.get(running.id).status == "completed"
    assert svc.get(behind.id).status == "queued"
    assert "resumed" in jobsvc(env, "drain", "--resume").stdout
    assert wait_ended(svc, behind.id)["status"] == "completed"
    assert wait_ended(svc, elsewhere.id)["status"] == "completed"


def test_drain_timeout_lists_what_still_runs(svc, env, make_worker, tmp_path):
    t = svc.submit("prod-eu", "wait_file", {"path": str(tmp_path / "never")})
    make_worker()
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    result = jobsvc(env, "drain", "--timeout", "1")
    assert result.returncode == 1 and t.id in result.stderr
    jobsvc(env, "drain", "--resume")
    svc.cancel(t.id)


def test_sigterm_lets_the_current_task_finish(svc, make_worker, tmp_path):
    gate = tmp_path / "go"
    t = svc.submit("prod-eu", "wait_file", {"path": str(gate)})
    worker = make_worker(worker_class="fork")
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    worker.send_signal(signal.SIGTERM)
    gate.touch()
    assert worker.wait(30) == 0
    assert svc.get(t.id).status == "completed"


def test_sigterm_past_the_shutdown_deadline_stops_the_task_for_a_retry(svc, make_worker, tmp_path):
    gate = tmp_path / "go"
    t = svc.submit("prod-eu", "wait_file", {"path": str(gate)}, retries=1)
    worker = make_worker(worker_class="fork", JOBSVC_SHUTDOWN_S="1")
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)
    wait_until(
        lambda: t.id in reconcile_all(svc.store).reaped,
        timeout=15,
        what="the stopped attempt to be reaped",
        interval=0.2,
    )
    gate.touch()
    make_worker()
    assert wait_ended(svc, t.id)["retryCount"] == 1


def test_a_shutdown_allowance_under_a_second_still_stops_the_task(svc, make_worker, tmp_path):
    """RQ ignores a second stop signal within a second of the first: a deadline that
    fired sooner left the worker waiting for its task forever."""
    t = svc.submit("prod-eu", "wait_file", {"path": str(tmp_path / "never")})
    worker = make_worker(worker_class="fork", JOBSVC_SHUTDOWN_S="0.2")
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    wait_until(
        lambda: t.id in reconcile_all(svc.store).reaped,
        timeout=15,
        what="the stopped attempt to be reaped",
        interval=0.2,
    )


def test_status_says_when_the_service_drains(svc, env):
    from jobsvc.processes import drain

    drain.start(svc.store)
    assert jobsvc(env, "status").stdout.startswith("DRAINING")
    drain.resume(svc.store)
    assert not jobsvc(env, "status").stdout.startswith("DRAINING")
