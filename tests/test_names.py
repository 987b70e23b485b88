"""Names match in full: a trailing newline (which ``$`` lets through) is not part
of a deployment name, a task id, a limit or a cursor, and a task id names a
task, never another key, on every way in: HTTP, the Python API, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jobsvc import keys
from jobsvc.errors import ConfigError, InvalidInput, NotFound
from tests.api_client import Api, assert_error, task_count
from tests.conftest import ROOT

# What a task id may not be followed by: a newline, or a suffix of one of the task's keys.
TAIL = ["\n", ":h", ":ev", ":log"]


@pytest.fixture
def api(web_server: str) -> Api:
    return Api(web_server)


def test_deployment_with_a_trailing_newline_is_refused_over_http(api: Api, redis_url) -> None:
    for r in (
        api.post("/deployments/prod%0A/tasks", json={"type": "noop"}),
        api.get("/deployments/prod%0A"),
        api.post("/deployments/prod%0A/pause"),
        api.post("/deployments/prod%0A/resume"),
        api.get("/tasks", params={"deployment": "prod\n"}),
    ):
        assert_error(r, 400, "invalid_deployment", "deployment")
    assert_error(api.get("/deployments", params={"cursor": "prod\n"}), 400, field="cursor")
    assert task_count(redis_url) == 0
    assert api.get("/deployments").json()["deployments"] == []


@pytest.mark.parametrize(("name", "value"), [("limit", "5\n"), ("cursor", "5\n")])
def test_query_numbers_with_a_trailing_newline_are_refused(api: Api, name, value) -> None:
    assert_error(api.get("/tasks", params={name: value}), 400, field=name)


def test_task_id_with_a_tail_is_unknown_over_http(api: Api) -> None:
    task_id = api.submit("prod")["id"]
    for tail in ("%0A", ":h", ":ev", ":log"):
        for r in (api.get(f"/tasks/{task_id}{tail}"), api.post(f"/tasks/{task_id}{tail}/cancel")):
            assert_error(r, 404, "task_not_found")


def test_python_api_refuses_a_deployment_with_a_trailing_newline(svc, redis_url) -> None:
    for call in (
        lambda: svc.submit("prod\n", "noop"),
        lambda: svc.pause("prod\n"),
        lambda: svc.deployment("prod\n"),
    ):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.field == "deployment"
    assert task_count(redis_url) == 0


@pytest.mark.parametrize("tail", TAIL, ids=repr)
def test_python_api_takes_task_ids_only(svc, tail) -> None:
    """``svc.get("<id>:h")`` must not read the task's history list as a task."""
    task = svc.submit("prod", "noop")
    # Every tail names an existing key of the task: its history, events, output.
    svc.store.client.set(keys.log(task.id), "out\n")
    svc.store.client.xadd(keys.events(task.id), {"type": "log", "at": 0, "data": "{}"})
    for call in (svc.get, svc.cancel, svc.skip, svc.retry, lambda i: list(svc.events(i))):
        with pytest.raises(NotFound):
            call(task.id + tail)
    assert svc.get(task.id).status == "queued"


def test_cli_refuses_a_deployment_with_a_trailing_newline(env, redis_url) -> None:
    # The error names the command's own parameter: an argument, or an option.
    for args, named in (
        (["submit", "prod\n", "noop"], "DEPLOYMENT"),
        (["pause", "prod\n"], "DEPLOYMENT"),
        (["status", "--deployment", "prod\n"], "--deployment"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "jobsvc", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0, (args, done.stdout)
        assert done.stderr.startswith(f"Error: {named} must") and "Traceback" not in done.stderr
    assert task_count(redis_url) == 0


@pytest.mark.parametrize(("name", "deployment"), [("hc\n", "prod"), ("hc", "prod\n")])
def test_recurring_task_names_match_in_full(env, name, deployment) -> None:
    from jobsvc.processes.scheduler import check_recurring
    from jobsvc.settings import Settings

    recurring = [{"name": name, "cron": "* * * * *", "deployment": deployment, "type": "noop"}]
    with pytest.raises(ConfigError, match="must"):
        check_recurring(Settings.from_env({**env, "JOBSVC_RECURRING": json.dumps(recurring)}))
