"""jobsvc's workers run a dispatch without RQ's per-job records, and stay in control of it.

Real ``jobsvc worker`` processes of both classes: RQ keeps nothing about a
task it ran, the stats still say which worker runs which task, a warm
shutdown still waits for the task, and a stalled attempt's work-horse is
still killed through RQ's stop-job command.
"""

from __future__ import annotations

import signal

import psutil
import pytest

from jobsvc.processes.reconcile import reconcile_all
from tests.helpers import wait_ended, wait_until

WORKER_CLASSES = ["simple", "fork"]
# RQ's keys that are not about any job: workers, the set of queues, maintenance locks.
RQ_GLOBAL_KEYS = ("rq:worker:", "rq:workers", "rq:queues", "rq:clean_")


def rq_keys(svc) -> list[str]:
    return sorted(svc.store.client.scan_iter(match="rq:*", count=1000))


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_rq_keeps_no_record_of_a_task_it_runs(svc, make_worker, tmp_path, worker_class):
    gate = tmp_path / "go"
    running = svc.submit("prod-eu", "wait_file", {"path": str(gate)})
    tasks = [running, svc.submit("prod-eu", "count", {"n": 1}), svc.submit("prod-eu", "fail")]
    make_worker(worker_class=worker_class)
    wait_until(lambda: svc.get(running.id).status == "running", what="task to run")
    # Neither while a task runs (no job, execution, started registry)...
    assert all(k.startswith(RQ_GLOBAL_KEYS) for k in rq_keys(svc)), rq_keys(svc)
    gate.touch()
    for t in tasks:
        wait_ended(svc, t.id)
    # ... nor once it has ended (no finished or failed registry, no result).
    assert all(k.startswith(RQ_GLOBAL_KEYS) for k in rq_keys(svc)), rq_keys(svc)


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_stats_name_the_task_each_worker_runs(svc, make_worker, tmp_path, worker_class):
    gate = tmp_path / "go"
    t = svc.submit("prod-eu", "wait_file", {"path": str(gate)})
    make_worker(worker_class=worker_class)
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    [worker] = wait_until(lambda: svc.stats()["workers"], what="the worker's registration")
    assert (worker["state"], worker["currentJobId"]) == ("busy", t.id)
    gate.touch()
    wait_ended(svc, t.id)
    [worker] = svc.stats()["workers"]
    assert (worker["state"], worker["currentJobId"]) == ("idle", None)


def test_sigterm_lets_a_simple_workers_task_finish(svc, make_worker, tmp_path):
    gate = tmp_path / "go"
    t = svc.submit("prod-eu", "wait_file", {"path": str(gate)})
    worker = make_worker(worker_class="simple")
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    worker.send_signal(signal.SIGTERM)
    gate.touch()
    assert worker.wait(30) == 0
    assert svc.get(t.id).status == "completed"


def test_stalled_attempt_of_a_forking_worker_has_its_horse_killed(svc, make_worker):
    t = svc.submit("prod-eu", "hang", timeout=600)
    nxt = svc.submit("prod-eu", "noop")
    svc.store.client.hset(f"jobsvc:t:{t.id}", "stallS", 1)
    worker = make_worker(worker_class="fork")
    wait_until(lambda: svc.get(t.id).status == "running", what="task to run")
    [horse] = wait_until(lambda: psutil.Process(worker.pid).children(), what="the work-horse")
    wait_until(
        lambda: t.id in reconcile_all(svc.store).stalled,
        timeout=15,
        what="stall detection",
        interval=0.2,
    )
    wait_until(
        lambda: not horse.is_running() or horse.status() == psutil.STATUS_ZOMBIE,
        what="the work-horse to be killed",
    )
    assert svc.get(t.id).status == "failed"
    assert wait_ended(svc, nxt.id)["status"] == "completed"


def test_attempts_share_a_handler_thread_until_one_is_interrupted(svc, make_worker):
    first = [svc.submit("prod-eu", "whoami") for _ in range(3)]
    stuck = svc.submit("prod-eu", "hang")  # its 2 s timeout interrupts its handler
    after = svc.submit("prod-eu", "whoami")
    make_worker(worker_class="simple")
    threads = {wait_ended(svc, t.id)["result"]["thread"] for t in first}
    assert len(threads) == 1
    assert wait_ended(svc, stuck.id)["error"]["reason"] == "timeout"
    assert wait_ended(svc, after.id)["result"]["thread"] not in threads
