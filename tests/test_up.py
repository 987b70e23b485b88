"""`jobsvc up` and `jobsvc down` as real processes: signals, the lock, a busy port.

Every process of a test carries its marker (``tests.processes``): "nothing
survives" means no process carries it any more, work-horses and the shell
task's child included.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from jobsvc.processes.redis_server import free_port
from jobsvc.service import Service
from jobsvc.settings import Settings
from tests.helpers import wait_until
from tests.processes import MARKER, assert_none_left, carrying
from tests.test_redis_secrets import run_cli

BANNER = "jobsvc is up"


@pytest.fixture
def up_env(tmp_path: Path, marker: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSVC_")}
    return {
        **env,
        "JOBSVC_DATA_DIR": str(tmp_path / "data"),
        "JOBSVC_SHUTDOWN_S": "2",
        "JOBSVC_SHELL_ALLOWLIST": json.dumps({"nap": ["sleep", "{seconds}"]}),
        MARKER: marker,
    }


class Up:
    """A running `jobsvc up` and its output (stdout and stderr together)."""

    def __init__(self, env: dict[str, str], tmp_path: Path, port: int, name: str = "up"):
        self.log = tmp_path / f"{name}.log"
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobsvc", "up", "--port", str(port), "--workers", "1"],
            cwd=tmp_path,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as a terminal runs it: a process group of its own
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_up(self) -> None:
        wait_until(
            lambda: BANNER in self.output() or self.proc.poll() is not None, 60, "up's banner", 0.1
        )
        assert self.proc.poll() is None, self.output()


def jobsvc(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, cwd=cwd)


def start_tasks(env: dict[str, str], marker: str) -> None:
    """A shell task (child ``sleep 300.<marker>``) and a sleep task, both running."""
    data = Path(env["JOBSVC_DATA_DIR"])
    svc = Service((data / "redis.url").read_text().strip(), Settings.from_env(env))
    nap = svc.submit("a", "shell", {"command": "nap", "args": {"seconds": f"300.{marker}"}})
    wait_until(lambda: svc.get(nap.id).status == "running", 30, "the shell task to run")
    wait_until(lambda: any(p.name() == "sleep" for p in carrying(marker)), 10, "its child")


@pytest.mark.parametrize(
    "signum, to_group",
    [(signal.SIGHUP, True), (signal.SIGTERM, True), (signal.SIGINT, True), (signal.SIGTERM, False)],
)
def test_a_signal_to_up_leaves_no_process_of_it(up_env, tmp_path, marker, signum, to_group):
    up = Up(up_env, tmp_path, free_port())
    up.wait_up()
    start_tasks(up_env, marker)
    if to_group:
        os.killpg(up.proc.pid, signum)  # a closed terminal, Ctrl-C: up's whole group
    else:
        os.kill(up.proc.pid, signum)
    assert up.proc.wait(60) == 0, up.output()
    assert up.output().rstrip().endswith("jobsvc: stopped"), up.output()
    assert "terminated unexpectedly" not in up.output()  # no horse killed by mistake
    assert_none_left(marker)


def test_a_second_up_is_one_line_and_down_stops_the_first(up_env, tmp_path, marker):
    up = Up(up_env, tmp_path, free_port())
    up.wait_up()
    second = jobsvc(up_env, tmp_path, "up", "--port", str(free_port()))
    assert second.returncode != 0
    assert second.stderr.count("\n") == 1, second.stderr
    assert f"pid {up.proc.pid}" in second.stderr and f":{up.port}" in second.stderr
    down = jobsvc(up_env, tmp_path, "down")
    assert down.returncode == 0, down.stderr
    assert up.proc.wait(30) == 0 and "stopped" in down.stdout
    assert_none_left(marker)
    again = jobsvc(up_env, tmp_path, "down")
    assert again.returncode != 0 and again.stderr.count("\n") == 1, again.stderr
    assert "no jobsvc up is running" in again.stderr


def test_after_a_killed_up_the_next_one_takes_over(up_env, tmp_path, marker):
    """kill -9 of `up`: its children get SIGTERM from the kernel and stop by
    themselves; the next `up` waits for them, takes the lock and says so."""
    first = Up(up_env, tmp_path, free_port(), "first")
    first.wait_up()
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    second = Up(up_env, tmp_path, first.port, "second")
    second.wait_up()
    assert f"took over from a jobsvc up (pid {first.proc.pid})" in second.output()
    os.killpg(second.proc.pid, signal.SIGINT)
    assert second.proc.wait(60) == 0, second.output()
    assert_none_left(marker)


def test_a_busy_port_is_one_line_and_nothing_is_left(up_env, tmp_path, marker):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = jobsvc(up_env, tmp_path, "up", "--port", str(port))
    assert result.returncode != 0
    assert result.stderr == f"Error: port {port} is in use; use --port\n"
    assert BANNER not in result.stdout
    assert_none_left(marker)


def test_up_runs_a_long_worker_beside_the_standard_ones(up_env, tmp_path, marker):
    up = Up(up_env, tmp_path, free_port())
    up.wait_up()
    data = Path(up_env["JOBSVC_DATA_DIR"])
    svc = Service((data / "redis.url").read_text().strip(), Settings.from_env(up_env))
    wait_until(
        lambda: sorted(w["pool"] for w in svc.stats()["workers"]) == ["long", "standard"],
        30,
        "a worker of each pool",
    )
    os.killpg(up.proc.pid, signal.SIGINT)
    assert up.proc.wait(60) == 0, up.output()
    out = up.output()
    # Both pools' workers are stopped together, after the web and before the scheduler.
    order = [out.index(f"stopping the {name}:") for name in ("web", "workers", "scheduler")]
    assert order == sorted(order), out
    assert order[1] < out.index("stopping the long worker:") < order[2], out
    assert_none_left(marker)
