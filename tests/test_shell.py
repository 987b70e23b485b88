"""The shell built-in's sandbox: what a payload may put in argv, and what the child gets.

Submissions go through the real HTTP server; commands run in real worker
processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.api_client import Api, assert_error, task_count
from tests.conftest import ROOT
from tests.helpers import wait_ended

ALLOWLIST = {
    "greet": ["echo", "hello", "{name}"],
    # The template says where options end: values after `--` may start with '-'.
    "remove": ["echo", "removing", "--", "{path}"],
    "lower": {"argv": ["echo", "hi", "{name}"], "args": {"name": "[a-z]+"}},
    "whereami": ["pwd", "-P"],
    "environ": ["env"],
}
# What the worker has and its children must not see.
TOKEN = "tok-sandbox-s3cret"


@pytest.fixture
def env(env):
    return {
        **env,
        "JOBSVC_SHELL_ALLOWLIST": json.dumps(ALLOWLIST),
        "JOBSVC_API_TOKENS": f"ci:{TOKEN}",
    }


@pytest.fixture
def api(web_server):
    return Api(web_server, token=TOKEN)


def shell(command: str, **args: str) -> dict:
    return {"type": "shell", "payload": {"command": command, "args": args}}


@pytest.mark.parametrize("value", ["-rf", "--no-preserve-root", "-"])
def test_value_starting_with_dash_is_refused_at_submit(api, redis_url, value):
    r = api.post("/deployments/prod/tasks", json=shell("greet", name=value))
    assert_error(r, 400, field="payload.args.name")
    assert task_count(redis_url) == 0


def test_value_after_a_literal_double_dash_may_start_with_dash(api, svc, make_worker):
    task = api.submit("prod", **shell("remove", path="-rf"))
    make_worker()
    assert wait_ended(svc, task["id"])["status"] == "completed"
    assert svc.store.log(task["id"]) == "removing -- -rf\n"


@pytest.mark.parametrize("value", ["Bob", "bob ", "bob\n", ""])
def test_value_not_matching_its_regex_is_refused(api, redis_url, value):
    r = api.post("/deployments/prod/tasks", json=shell("lower", name=value))
    error = assert_error(r, 400, field="payload.args.name")
    assert "[a-z]+" in error["message"]
    assert task_count(redis_url) == 0


def test_value_matching_its_regex_runs(api, svc, make_worker):
    task = api.submit("prod", **shell("lower", name="bob"))
    make_worker()
    assert wait_ended(svc, task["id"])["status"] == "completed"
    assert svc.store.log(task["id"]) == "hi bob\n"


def test_invalid_regex_in_the_allowlist_stops_the_process_at_start(env):
    bad = {"x": {"argv": ["echo", "{a}"], "args": {"a": "(unclosed"}}}
    proc = subprocess.run(
        [sys.executable, "-m", "jobsvc", "worker"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env, "JOBSVC_SHELL_ALLOWLIST": json.dumps(bad)},
        timeout=60,
    )
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "JOBSVC_SHELL_ALLOWLIST" in proc.stderr and "x.args.a" in proc.stderr
    assert "regular expression" in proc.stderr


def test_child_gets_a_minimal_environment(api, svc, make_worker, redis_url):
    task = api.submit("prod", **shell("environ"))
    make_worker()
    assert wait_ended(svc, task["id"])["status"] == "completed"
    child_env = dict(line.split("=", 1) for line in svc.store.log(task["id"]).splitlines())
    assert set(child_env) <= {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}, child_env
    text = json.dumps(child_env)
    assert "JOBSVC" not in text and TOKEN not in text and redis_url not in text
    assert os.path.basename(child_env["HOME"]).startswith("jobsvc-shell-")


def test_child_runs_in_a_fresh_directory_removed_after(api, svc, make_worker):
    task = api.submit("prod", **shell("whereami"))
    make_worker()
    assert wait_ended(svc, task["id"])["status"] == "completed"
    workdir = svc.store.log(task["id"]).strip()
    assert os.path.basename(workdir).startswith("jobsvc-shell-")
    assert workdir != str(ROOT) and not os.path.exists(workdir)
