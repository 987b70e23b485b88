"""No lane can reach another lane's data: not by its name, not by a fault.

A deployment name may contain ``:``, so names such as ``x:q`` or ``x:lease``
must be lanes of their own, never another lane's queue or lease.  And a lane
whose data is unreadable (corrupted in Redis) is logged and passed over by
every pass over many lanes: the reconciler, the listings, the dashboard.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from jobsvc import keys
from tests.api_client import Api
from tests.conftest import ROOT
from tests.helpers import wait_until

# Every suffix a key layout has used after a deployment name or a task id.
SUFFIXES = (":q", ":lease", ":h", ":ev", ":log")


@pytest.fixture
def api(web_server: str) -> Api:
    return Api(web_server)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``jobsvc ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "jobsvc", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def queue_ids(api: Api, deployment: str) -> list[str]:
    r = api.get(f"/deployments/{deployment}")
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["queue"]]


# -- names --------------------------------------------------------------------------


def test_names_ending_in_a_key_suffix_are_lanes_of_their_own(api: Api, env) -> None:
    """Submit to ``x`` (one active, one waiting), then to ``x:q``, ``x:lease``, ..."""
    head, behind = api.submit("x"), api.submit("x")
    others = {"x" + suffix: api.submit("x" + suffix) for suffix in SUFFIXES}
    assert queue_ids(api, "x") == [head["id"], behind["id"]]
    for name, task in others.items():
        assert queue_ids(api, name) == [task["id"]], name
        assert task["position"] == 0, name
    r = api.get("/deployments", params={"limit": 100})
    assert r.status_code == 200, r.text
    assert [s["deployment"] for s in r.json()["deployments"]] == sorted(["x", *others])
    r = api.get("/tasks", params={"limit": 100})
    assert r.status_code == 200, r.text
    assert len(r.json()["tasks"]) == 2 + len(others)
    done = run_cli(env, "reconcile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_pausing_y_q_leaves_lane_y_running(api: Api, make_worker) -> None:
    paused = api.post("/deployments/y:q/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    task = api.submit("y")
    assert api.get("/deployments/y").json()["paused"] is False
    make_worker()
    wait_until(lambda: api.task(task["id"])["status"] == "completed", what="y's task to run")


def test_lanes_named_after_a_running_lanes_keys_run_side_by_side(
    api: Api, make_worker, tmp_path
) -> None:
    """While ``x`` runs a task (its lease is live), ``x:lease`` and ``x:q`` accept and run."""
    gate = tmp_path / "go"
    running = api.submit("x", "wait_file", payload={"path": str(gate)})
    waiting = api.submit("x")
    make_worker()
    wait_until(lambda: api.task(running["id"])["status"] == "running", what="x to run")
    others = [api.submit("x" + suffix) for suffix in SUFFIXES]
    make_worker()
    for task in others:
        wait_until(
            lambda t=task: api.task(t["id"])["status"] == "completed",
            what=f"{task['deployment']}'s task to run",
        )
    assert api.task(running["id"])["status"] == "running"
    gate.touch()
    wait_until(lambda: api.task(waiting["id"])["status"] == "completed", what="x to move on")


# -- data of the old layout ---------------------------------------------------------


def test_check_spots_data_of_the_old_key_layout(redis_url, env) -> None:
    """Before the kind came first, lane ``prod``'s queue and lease were
    ``jobsvc:lane:prod:q`` / ``:lease`` and counters ``type:<t>:<status>``."""
    client = redis.Redis.from_url(redis_url)
    client.hset(keys.lane("app:q"), "paused", "1")  # today's lane ``app:q``: no warning
    assert "old key layout" not in run_cli(env, "check").stdout
    client.zadd("jobsvc:lane:prod:q", {"0123456789abcdef": 1})
    done = run_cli(env, "check")
    notes = [line for line in done.stdout.splitlines() if "old key layout" in line]
    assert len(notes) == 1, done.stdout + done.stderr
    assert "jobsvc:lane:prod:q" in notes[0] and "jobsvc drain" in notes[0], notes
    client.delete("jobsvc:lane:prod:q")
    client.set("jobsvc:lane:prod:lease", "7")
    assert "jobsvc:lane:prod:lease" in run_cli(env, "check").stdout
    client.delete("jobsvc:lane:prod:lease")
    client.hset(keys.COUNTS, "type:noop:queued", 1)
    assert "old key layout" in run_cli(env, "check").stdout
