"""Workers under supervisors: no work-horse nor shell child outlives its worker.

Real worker processes, a real ``shell`` task running ``sleep``, and the
signals a supervisor sends; what is left is found by the test's marker
(``tests.processes``), never by a process name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from jobsvc.processes.redis_server import free_port
from tests.conftest import ROOT
from tests.helpers import wait_until
from tests.processes import assert_none_left, carrying

NAP = {"nap": ["sleep", "{seconds}"]}
# honcho's fixed wait between its SIGTERM and its SIGKILL to each process group.
HONCHO_WAIT_S = 5


@pytest.fixture
def env(env):
    """The shell allowlist holds ``nap``: a shell task that runs until stopped."""
    return {**env, "JOBSVC_SHELL_ALLOWLIST": json.dumps(NAP), "JOBSVC_SHUTDOWN_S": "1"}


def start_nap(svc, marker: str) -> str:
    """A shell task whose child is ``sleep 300.<marker>``, once it runs."""
    task = svc.submit("prod-eu", "shell", {"command": "nap", "args": {"seconds": f"300.{marker}"}})
    wait_until(
        lambda: any(p.name() == "sleep" for p in carrying(marker)),
        30,
        "the shell task's child to run",
        0.1,
    )
    assert svc.get(task.id).status == "running"
    return task.id


def test_sigkill_of_a_forking_worker_takes_its_horse_and_shell_child(svc, make_worker, marker):
    worker = make_worker(worker_class="fork", JOBSVC_TEST_MARKER=marker)
    start_nap(svc, marker)
    os.killpg(worker.pid, signal.SIGKILL)  # what a supervisor does at the end of its grace
    assert_none_left(marker)


def test_sigkill_of_a_simple_worker_takes_its_shell_child(svc, make_worker, marker):
    worker = make_worker(worker_class="simple", JOBSVC_TEST_MARKER=marker)
    start_nap(svc, marker)
    os.killpg(worker.pid, signal.SIGKILL)
    assert_none_left(marker)


def test_cold_shutdown_stops_the_shell_child_with_the_horse(svc, make_worker, marker):
    """SIGTERM, then the shutdown deadline's own SIGTERM: RQ kills the horse's group,
    which the shell child (a session of its own) is not in."""
    worker = make_worker(worker_class="fork", JOBSVC_TEST_MARKER=marker)
    start_nap(svc, marker)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert_none_left(marker)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_honcho_stops_the_procfile_within_its_grace_with_tasks_running(
    svc, env, marker, tmp_path, signum
):
    """The Procfile under honcho, a task in a work-horse and a shell child running, a
    shutdown allowance longer than honcho's wait (5 s, then SIGKILL to each group):
    honcho must exit soon after its SIGKILL and leave nothing running."""
    process_env = {
        **os.environ,
        **env,
        "JOBSVC_SHUTDOWN_S": "60",
        "WORKER_COUNT": "2",
        "WEB_CONCURRENCY": "1",
        "JOBSVC_TEST_MARKER": marker,
    }
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT)]
        + ["-p", str(free_port())],
        cwd=ROOT,
        env=process_env,
        stdout=(tmp_path / "honcho.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        sleeping = svc.submit("prod-us", "sleep", {"seconds": 300})
        start_nap(svc, marker)
        wait_until(lambda: svc.get(sleeping.id).status == "running", 30, "the sleep task to run")
        os.killpg(honcho.pid, signum)  # Ctrl-C reaches honcho's group; systemd signals it
        honcho.wait(HONCHO_WAIT_S + 10)
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait(10)
    log = (tmp_path / "honcho.log").read_text(errors="replace")
    assert log.count("sending SIGKILL") <= 3, log[-3000:]
    assert_none_left(marker)


def test_the_procfile_runs_a_worker_for_each_pool(svc, env, marker, tmp_path):
    """The Procfile's `worker` and `worker-long` lines under honcho: a long task runs
    on the long worker while a standard task completes; both pools are listed."""
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT)]
        + ["-p", str(free_port())],
        cwd=ROOT,
        env={**os.environ, **env, "WORKER_COUNT": "1", "WEB_CONCURRENCY": "1"}
        | {"JOBSVC_TEST_MARKER": marker},
        stdout=(tmp_path / "honcho.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: {"migrate", "echo"} <= set(svc.store.offered_types()), 60, "both pools' offers"
        )
        release = tmp_path / "release"
        long_task = svc.submit("prod-db", "migrate", {"path": str(release)})
        quick = svc.submit("prod-web", "echo", {"lines": ["hi"]})
        wait_until(lambda: svc.get(quick.id).status == "completed", 30, "the standard task")
        assert svc.get(long_task.id).status == "running"
        pools = sorted(w["pool"] for w in svc.stats()["workers"])
        assert pools == ["long", "standard"], pools
        release.touch()
        wait_until(lambda: svc.get(long_task.id).status == "completed", 30, "the long task")
        os.killpg(honcho.pid, signal.SIGTERM)
        honcho.wait(HONCHO_WAIT_S + 10)
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait(10)
    assert_none_left(marker)
