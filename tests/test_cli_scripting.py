"""The CLI in a script: ids alone into a pipe, exit codes that mean something,
errors that name the flags, the whole story of a task in ``tail``.

Real processes (``jobsvc`` and its workers) against the test Redis; click's
runner only where the command's own output is the unit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis
from click.testing import CliRunner

from jobsvc.cli import cli
from jobsvc.validation import TASK_ID_RE
from tests.conftest import ROOT
from tests.helpers import jobsvc, wait_ended


@pytest.fixture
def run(env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return lambda *args: CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- submit ------------------------------------------------------------------------


def test_submit_into_a_pipe_prints_the_id_alone(env):
    proc = jobsvc(env, "submit", "prod-eu", "noop")
    assert proc.returncode == 0, proc.stderr
    assert TASK_ID_RE.fullmatch(proc.stdout.strip()) and proc.stdout.count("\n") == 1
    assert proc.stderr == ""


def test_submit_quiet_prints_the_id_alone(run):
    result = run("submit", "prod-eu", "noop", "-q")
    assert TASK_ID_RE.fullmatch(result.output.strip())


def test_submit_output_feeds_tail_in_a_shell_pipeline(env, make_worker):
    make_worker()
    script = (
        f"ID=$({sys.executable} -m jobsvc submit prod-eu echo "
        """--payload '{"lines": ["one", "two"]}') && """
        f'{sys.executable} -m jobsvc tail "$ID"'
    )
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "one\ntwo\n"
    assert proc.stderr.splitlines()[-1] == "-- completed"


def test_a_deduplicated_submit_says_so_on_stderr_and_in_json(env):
    first = jobsvc(env, "submit", "prod-eu", "noop", "--dedupe-key", "k")
    second = jobsvc(env, "submit", "prod-eu", "noop", "--dedupe-key", "k")
    as_json = jobsvc(env, "submit", "prod-eu", "noop", "--dedupe-key", "k", "--json")
    task_id = first.stdout.strip()
    assert first.stderr == ""
    assert second.stdout.strip() == task_id
    assert second.stderr == f"deduplicated: returned existing task {task_id}\n"
    data = json.loads(as_json.stdout)
    assert data["id"] == task_id and data["deduplicated"] is True
    fresh = json.loads(jobsvc(env, "submit", "prod-eu", "noop", "--json").stdout)
    assert fresh["deduplicated"] is False


def test_python_submit_says_whether_it_deduplicated(svc):
    first = svc.submit("prod-eu", "noop", dedupe_key="k")
    second = svc.submit("prod-eu", "noop", dedupe_key="k")
    assert first.deduplicated is False
    assert second.deduplicated is True and second.id == first.id


def test_submit_wait_streams_the_output_then_exits_as_tail(env, make_worker):
    make_worker()
    done = jobsvc(env, "submit", "prod-eu", "echo", "--payload", '{"lines": ["a", "b"]}', "--wait")
    assert done.returncode == 0, done.stderr
    task_id, *lines = done.stdout.splitlines()
    assert TASK_ID_RE.fullmatch(task_id) and lines == ["a", "b"]
    assert done.stderr.splitlines()[-1] == "-- completed"
    failed = jobsvc(env, "submit", "prod-eu", "fail", "--payload", '{"message": "boom"}', "--wait")
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1] == "-- failed (exception): TaskFailed: boom"


def test_submit_wait_json_keeps_stdout_for_the_json(env, make_worker):
    make_worker()
    done = jobsvc(
        env, "submit", "prod-eu", "echo", "--payload", '{"lines": ["a"]}', "--wait", "--json"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "completed" and data["deduplicated"] is False
    assert "a\n" in done.stderr


# -- tail and attempts -------------------------------------------------------------------


def test_tail_ends_with_the_reason_and_the_message(env, svc, make_worker):
    make_worker()
    task = svc.submit("prod-eu", "fail", {"message": "the disk is full"})
    wait_ended(svc, task.id)
    proc = jobsvc(env, "tail", task.id)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == "-- failed (exception): TaskFailed: the disk is full"


def test_a_retried_task_marks_each_later_attempt_in_its_log(env, svc, make_worker):
    make_worker()
    task = svc.submit("prod-eu", "fail", {"times": 1, "message": "once"}, retries=1)
    assert wait_ended(svc, task.id)["status"] == "completed"
    marker = "-- attempt 2 (retry: exception)"
    assert svc.log(task.id) == marker + "\n"
    tail = jobsvc(env, "tail", task.id)
    assert tail.returncode == 0 and tail.stdout == marker + "\n"


def test_a_manual_retry_marks_its_attempt_too(env, svc, make_worker):
    make_worker()
    failing = svc.submit("prod-eu", "fail", {"times": 1})
    wait_ended(svc, failing.id)
    svc.retry(failing.id)
    assert wait_ended(svc, failing.id)["status"] == "completed"
    assert svc.log(failing.id) == "-- attempt 2 (retry requested)\n"


# -- check, cleanup -------------------------------------------------------------------------


def test_check_exits_non_zero_on_warnings_unless_warn_only(env):
    warned = jobsvc(env, "check")  # the test Redis has persistence off
    assert warned.returncode == 1
    assert "warning: persistence is off" in warned.stdout
    assert warned.stderr.count("\n") == 1 and "warning(s)" in warned.stderr
    assert jobsvc(env, "check", "--warn-only").returncode == 0


def test_cleanup_dry_run_names_what_it_would_delete_and_deletes_nothing(
    env, svc, make_worker, redis_url
):
    make_worker()
    tasks = [svc.submit("prod-eu", "noop") for _ in range(3)]
    for task in tasks:
        wait_ended(svc, task.id)
    raw = redis.Redis.from_url(redis_url)
    before = {key: raw.dump(key) for key in raw.scan_iter("jobsvc:*")}
    dry = jobsvc(env, "cleanup", "--days", "0", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    *names, summary = dry.stdout.splitlines()
    assert sorted(names) == sorted(f"would delete {t.id}" for t in tasks)
    assert summary == "dry run: would flag 3 stale task(s), would delete 3 ended task(s)"
    assert {key: raw.dump(key) for key in raw.scan_iter("jobsvc:*")} == before
    assert "deleted 3" in jobsvc(env, "cleanup", "--days", "0").stdout


# -- errors name flags; the version -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("submit", "prod-eu", "noop", "--timeout", "0"), "--timeout must be between"),
        (("submit", "prod-eu", "noop", "--retries", "1000"), "--retries must be between"),
        (("submit", "prod-eu", "noop", "--cooldown", "-1"), "--cooldown must be between"),
        (("submit", "bad name", "noop"), "DEPLOYMENT must fully match"),
        (("submit", "prod-eu", "noop", "--payload", "[1]"), "--payload must be a JSON object"),
        (("submit", "prod-eu", "noop", "--payload", "{x"), "--payload"),
        (("status", "--deployment", "bad name"), "--deployment must fully match"),
        (("tail", "0123456789abcdef", "--since", "x"), "--since must be an event id"),
    ],
)
def test_errors_name_the_flag_not_the_api_field(run, args, flag):
    result = run(*args)
    assert result.exit_code != 0
    assert result.output.count("\n") == 1 and flag in result.output, result.output


def test_version_comes_from_the_package_metadata(env):
    from importlib.metadata import version

    proc = jobsvc(env, "--version")
    assert proc.returncode == 0 and proc.stdout == f"jobsvc {version('jobsvc')}\n"
