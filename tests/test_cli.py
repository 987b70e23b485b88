"""The jobsvc command: CliRunner for each verb, and real processes end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from jobsvc.cli import cli
from jobsvc.processes.redis_server import free_port
from tests.helpers import jobsvc, wait_until


@pytest.fixture
def run(env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_submit_prints_task_and_dedupes(run):
    first = run("submit", "prod-eu", "noop", "--dedupe-key", "k", "--json")
    second = run("submit", "prod-eu", "noop", "--dedupe-key", "k", "--json")
    assert first.exit_code == 0
    assert json.loads(first.stdout)["id"] == json.loads(second.stdout)["id"]


def test_bad_input_exits_non_zero_with_one_line(run):
    for args in (
        ("submit", "bad name", "noop"),
        ("submit", "prod", "nope"),
        ("submit", "prod", "sleep", "--payload", "{not json"),
    ):
        result = run(*args)
        assert result.exit_code != 0
        assert result.output.count("\n") == 1 and result.output.startswith("Error: ")


def test_status_pause_resume_cancel_skip(run):
    a = json.loads(run("submit", "prod-eu", "noop", "--json").output)
    b = json.loads(run("submit", "prod-eu", "noop", "--json").output)
    status = json.loads(run("status", "--json").output)
    assert status["byStatus"]["queued"] == 2 and status["lanes"][0]["queueDepth"] == 1
    assert json.loads(run("pause", "prod-eu", "--json").output)["paused"] is True
    assert run("resume", "prod-eu").exit_code == 0
    assert json.loads(run("skip", b["id"], "--json").output)["status"] == "skipped"
    assert json.loads(run("cancel", a["id"], "--json").output)["status"] == "canceled"
    assert run("cancel", a["id"]).exit_code != 0
    assert "prod-eu" in run("status", "--deployment", "prod-eu").output


def test_reconcile_check_cleanup(run):
    assert "republished 0" in run("reconcile").output
    assert run("check").exit_code == 1  # the test Redis has persistence off: warnings
    assert run("check", "--warn-only").exit_code == 0
    assert "warning: persistence is off" in run("check").output
    assert "deleted 0" in run("cleanup", "--days", "1").output


def test_submit_wait_end_to_end_with_real_processes(env, make_worker):
    make_worker(worker_class="fork")
    payload = '{"lines": ["hi"]}'
    proc = jobsvc(env, "submit", "prod-eu", "echo", "--payload", payload, "--wait", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "completed"
    failed = jobsvc(env, "submit", "prod-eu", "fail", "--wait")
    assert failed.returncode == 1 and "-- failed" in failed.stderr


def test_up_runs_everything_and_ctrl_c_stops_it(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSVC_")}
    env["JOBSVC_DATA_DIR"] = str(tmp_path / "data")
    up = subprocess.Popen(
        [sys.executable, "-m", "jobsvc", "up", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _healthy(port), timeout=30, what="jobsvc up to serve", interval=0.2)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "jobsvc",
                "submit",
                "demo",
                "echo",
                "--payload",
                '{"lines": ["hello"]}',
                "--wait",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and "-- completed" in done.stderr, done.stderr
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
    assert (tmp_path / "data" / "redis" / "appendonlydir").exists() or (
        tmp_path / "data" / "redis" / "appendonly.aof"
    ).exists()
    lonely = subprocess.run(
        [sys.executable, "-m", "jobsvc", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert lonely.returncode == 1 and "jobsvc up" in lonely.stderr


def _healthy(port: int) -> bool:
    """Serving yet?  A connection the listening master holds while its workers still
    boot (over a second on a loaded machine) times out: not yet, rather than a failure."""
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except (requests.ConnectionError, requests.Timeout):
        return False
