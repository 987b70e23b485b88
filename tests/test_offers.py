"""Task types known from the workers: what they offer is what a submit may name.

Workers are real ``jobsvc worker`` processes; one of them imports a module
that only it can import (a temp dir on its PYTHONPATH), so the test process,
its web server and the CLI never have that type's code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import tests.task_types  # noqa: F401  (registers "count" here: a type of the caller's own)
from jobsvc.errors import UnknownType
from jobsvc.types.offers import TypeSpec, accepted
from tests.api_client import Api
from tests.conftest import ROOT
from tests.helpers import wait_ended, wait_until

# An offer lives this long here, in seconds: short, so its expiry can be waited for.
TTL_S = "2"
JOBSVC = str(Path(sys.executable).parent / "jobsvc")
WORKER_ONLY = """\
from jobsvc import task


@task("worker_only", retries=2, timeout=30)
def worker_only(ctx, payload):
    ctx.log("ran where the module is")
    return {"ok": True}
"""


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "JOBSVC_OFFERS_TTL_S": TTL_S}


@pytest.fixture
def module_dir(tmp_path: Path) -> Path:
    """A directory holding ``worker_only_types``, on no import path but a worker's."""
    path = tmp_path / "modules"
    path.mkdir()
    (path / "worker_only_types.py").write_text(WORKER_ONLY)
    return path


@pytest.fixture
def offering_worker(make_worker, module_dir: Path, svc):
    """A worker that offers ``worker_only`` (and the built-ins, and tests.task_types)."""
    proc = make_worker(
        JOBSVC_TASK_MODULES="tests.task_types,worker_only_types",
        PYTHONPATH=os.pathsep.join([str(module_dir), str(ROOT)]),
    )
    wait_until(lambda: "worker_only" in svc.store.offered_types(), what="the worker's offer")
    return proc


def cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed ``jobsvc`` console script, as a user runs it, with ``env`` only
    (no JOBSVC_* of the test process's own)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JOBSVC_")}
    return subprocess.run(
        [JOBSVC, *args], env={**clean, **env}, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def without_modules(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "JOBSVC_TASK_MODULES"}


# -- the rule (pure logic) -----------------------------------------------------------


def test_an_offered_type_takes_the_defaults_its_worker_published():
    offered = {"deploy": TypeSpec("deploy", pool="long", timeout=900, retries=3, seen_at=1)}
    spec = accepted("deploy", offered)
    assert (spec.pool, spec.timeout, spec.retries) == ("long", 900, 3)


def test_an_offered_type_keeps_the_callers_own_preflight_hooks():
    offered = {"guarded": TypeSpec("guarded", seen_at=1)}
    assert accepted("guarded", offered).preflight  # tests.task_types registers a preflight


def test_a_builtin_type_is_accepted_whatever_is_offered():
    assert accepted("echo", {}).name == "echo"
    assert accepted("echo", {"deploy": TypeSpec("deploy", seen_at=1)}).name == "echo"


def test_with_no_offer_at_all_the_callers_own_types_are_accepted():
    assert accepted("count", {}).name == "count"


def test_a_type_of_the_caller_that_no_worker_offers_is_refused():
    with pytest.raises(UnknownType) as refused:
        accepted("count", {"deploy": TypeSpec("deploy", seen_at=1)})
    assert refused.value.status == 422 and refused.value.field == "type"
    assert "deploy" in refused.value.message and "echo" in refused.value.message


def test_a_type_nobody_has_is_refused_even_with_no_offer():
    with pytest.raises(UnknownType):
        accepted("nobody-has-this", {})


# -- real workers, web, CLI, Python --------------------------------------------------


def test_type_offered_only_by_workers_is_accepted_without_its_module(
    offering_worker, web_server, svc, env, tmp_path
):
    task = Api(web_server).submit("web-lane", "worker_only")
    assert (task["maxRetries"], task["timeoutS"]) == (2, 30)  # the worker's defaults
    run = cli(without_modules(env), "submit", "cli-lane", "worker_only", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["maxRetries"] == 2
    from_python = svc.submit("py-lane", "worker_only")
    for task_id in (task["id"], json.loads(run.stdout)["id"], from_python.id):
        assert wait_ended(svc, task_id)["status"] == "completed"
    assert "ran where the module is" in svc.log(task["id"])


def test_type_nobody_offers_is_refused_listing_the_offers(
    offering_worker, web_server, svc, env, tmp_path
):
    answer = Api(web_server).post("/deployments/d/tasks", json={"type": "nobody"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("unknown_type", "type")
    assert "worker_only" in error["message"] and "echo" in error["message"]
    run = cli(without_modules(env), "submit", "d", "nobody", cwd=tmp_path)
    assert run.returncode != 0 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and "unknown task type 'nobody'" in run.stderr
    with pytest.raises(UnknownType, match="worker_only"):
        svc.submit("d", "nobody")
    assert svc.store.client.zcard("jobsvc:idx:status:queued") == 0


def test_a_type_only_the_caller_has_is_refused_once_workers_offer_theirs(make_worker, svc):
    """The caller imports tests.task_types, the workers do not: a submit of one of
    its types would be accepted, then fail `unknown_type` on the worker."""
    make_worker(JOBSVC_TASK_MODULES="")
    wait_until(lambda: svc.store.offered_types(), what="the worker's offer")
    with pytest.raises(UnknownType, match="count"):
        svc.submit("d", "count")
    assert svc.submit("d", "echo").status == "queued"


def test_before_any_worker_offers_builtins_and_the_callers_types_are_accepted(svc, env, tmp_path):
    assert svc.submit("d", "count").status == "queued"
    assert cli(without_modules(env), "submit", "d", "echo", cwd=tmp_path).returncode == 0
    refused = cli(without_modules(env), "submit", "d", "count", cwd=tmp_path)
    assert refused.returncode != 0 and "unknown task type 'count'" in refused.stderr


def test_offers_expire_after_their_ttl(offering_worker, svc, env, tmp_path):
    assert svc.submit("d", "worker_only").status == "queued"
    os.killpg(offering_worker.pid, signal.SIGKILL)
    offering_worker.wait(10)
    wait_until(lambda: "worker_only" not in svc.store.offered_types(), 10, "the offer to expire")
    with pytest.raises(UnknownType):
        svc.submit("d2", "worker_only")
    listed = json.loads(cli(env, "types", "--json", cwd=tmp_path).stdout)["types"]
    assert "worker_only" not in [t["name"] for t in listed]


def test_jobsvc_types_lists_what_workers_offer(offering_worker, env, tmp_path):
    run = cli(without_modules(env), "types", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    listed = {t["name"]: t for t in json.loads(run.stdout)["types"]}
    only = listed["worker_only"]
    assert (only["pool"], only["timeoutS"], only["maxRetries"], only["builtin"]) == (
        "standard",
        30,
        2,
        False,
    )
    assert only["lastSeen"].endswith("Z") and listed["echo"]["builtin"] is True
    rows = cli(without_modules(env), "types", cwd=tmp_path).stdout.splitlines()
    assert any(row.split()[:4] == ["worker_only", "standard", "30s", "2"] for row in rows)


def test_task_modules_resolve_from_the_current_directory(env, tmp_path):
    (tmp_path / "cwd_types.py").write_text(WORKER_ONLY.replace("worker_only", "from_cwd"))
    here = {**env, "JOBSVC_TASK_MODULES": "cwd_types"}
    run = cli(here, "submit", "d", "from_cwd", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["maxRetries"] == 2


def test_a_module_that_does_not_import_breaks_only_submit(env, tmp_path):
    broken = {**env, "JOBSVC_TASK_MODULES": "no_such_module_here"}
    for args in (("status",), ("types",)):
        run = cli(broken, *args, cwd=tmp_path)
        assert run.returncode == 0, (args, run.stderr)
    run = cli(broken, "submit", "d", "echo", cwd=tmp_path)
    assert run.returncode != 0
    assert len(run.stderr.splitlines()) == 1 and "no_such_module_here" in run.stderr
