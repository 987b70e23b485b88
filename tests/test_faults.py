"""Deterministic crash tests: fault points, a killed worker parent, a frozen attempt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil

from jobsvc.processes.reconcile import reconcile_all
from tests.conftest import ROOT
from tests.helpers import wait_ended, wait_until


def statuses(task: dict) -> list[str]:
    return [h["status"] for h in task["history"]]


def reap_when_lease_expires(svc, task_id: str) -> None:
    wait_until(
        lambda: task_id in reconcile_all(svc.store).reaped,
        timeout=15,
        what="the lease to expire and the attempt to be reaped",
        interval=0.2,
    )


def test_submitter_killed_after_promote_is_repaired(svc, env, make_worker):
    proc = subprocess.run(
        [sys.executable, "-m", "jobsvc", "submit", "prod-eu", "noop"],
        cwd=ROOT,
        env={**os.environ, **env, "JOBSVC_FAULT": "after_promote"},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 137
    [task] = svc.store.list_tasks(deployment=None, status=None, type_=None, limit=5, cursor=None)[0]
    assert task["position"] == 0 and svc.store.client.exists(f"rq:job:{task['id']}") == 0
    assert reconcile_all(svc.store, orphan_grace_s=0).republished == [task["id"]]
    make_worker()
    assert wait_ended(svc, task["id"])["status"] == "completed"


def test_worker_killed_after_claim_is_retried_elsewhere(svc, make_worker):
    t = svc.submit("prod-eu", "noop", retries=1)
    doomed = make_worker(JOBSVC_FAULT="after_claim")
    wait_until(lambda: doomed.poll() is not None, what="the worker to die at its fault point")
    assert svc.get(t.id).status == "running"
    reap_when_lease_expires(svc, t.id)
    make_worker()
    done = wait_ended(svc, t.id)
    assert statuses(done) == ["queued", "running", "queued", "running", "completed"]


def test_worker_killed_before_finish_runs_the_task_again(svc, make_worker):
    t = svc.submit("prod-eu", "count", {"n": 3}, retries=1)
    doomed = make_worker(JOBSVC_FAULT="before_finish")
    wait_until(lambda: doomed.poll() is not None, what="the worker to die at its fault point")
    reap_when_lease_expires(svc, t.id)
    make_worker()
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed" and done["retryCount"] == 1
    # At-least-once: it ran twice, the second attempt marked in the log with why it ran.
    assert svc.store.log(t.id) == "attempt 1\n-- attempt 2 (retry: worker_lost)\nattempt 2\n"


def test_killed_fork_parent_takes_its_horse_and_the_task_runs_again(svc, make_worker, tmp_path):
    """RQ's horse is in a process group of its own, out of reach of a signal to its
    worker's group; it dies with its worker all the same (``lifetime``), so the
    attempt is lost, reaped when its lease expires, and run again, never twice at once."""
    gate = tmp_path / "go"
    t = svc.submit("prod-eu", "wait_file", {"path": str(gate)}, retries=3)
    worker = make_worker(worker_class="fork")
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    [horse] = wait_until(lambda: psutil.Process(worker.pid).children(), what="the work-horse")
    os.kill(worker.pid, signal.SIGKILL)  # the parent only
    wait_until(
        lambda: not horse.is_running() or horse.status() == psutil.STATUS_ZOMBIE,
        timeout=10,
        what="the horse to die with its worker",
        interval=0.1,
    )
    reap_when_lease_expires(svc, t.id)
    gate.touch()
    make_worker(worker_class="fork")
    done = wait_ended(svc, t.id)
    assert statuses(done) == ["queued", "running", "queued", "running", "completed"]


def test_frozen_attempt_that_wakes_finds_its_writes_refused(svc, make_worker, tmp_path):
    gate = tmp_path / "go"
    t = svc.submit("prod-eu", "numbered", {"path": str(gate)})
    frozen = make_worker()
    wait_until(lambda: "1:3" in svc.store.log(t.id), what="the first attempt to write")
    os.killpg(frozen.pid, signal.SIGSTOP)
    reap_when_lease_expires(svc, t.id)
    before = svc.store.log(t.id)  # after the reap: nothing of attempt 1 may follow
    make_worker()
    wait_until(lambda: "2:3" in svc.store.log(t.id), what="the second attempt to write")
    os.killpg(frozen.pid, signal.SIGCONT)
    wait_until(lambda: "2:40" in svc.store.log(t.id), what="the second attempt to go on")
    gate.touch()
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed" and done["retryCount"] == 1
    first_attempt = [line for line in svc.store.log(t.id).splitlines() if line.startswith("1:")]
    assert "\n".join(first_attempt) + "\n" == before
