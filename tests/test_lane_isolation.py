"""No lane can reach another lane's data: not by its name, not by a fault.

A deployment name may contain ``:``, so names such as ``x:q`` or ``x:lease``
must be lanes of their own, never another lane's queue or lease.  And a lane
whose data is unreadable (corrupted in Redis) is logged and passed over by
every pass over many lanes: the reconciler, the listings, the dashboard.
"""

from __future__ import annotations

import json

import pytest
import redis
import requests
import websocket

from jobsvc import keys
from tests.api_client import Api, task_count
from tests.helpers import jobsvc, wait_until

# Every suffix a key layout has used after a deployment name or a task id.
SUFFIXES = (":q", ":lease", ":h", ":ev", ":log")


@pytest.fixture
def api(web_server: str) -> Api:
    return Api(web_server)


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
    done = jobsvc(env, "reconcile")
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
    assert "old key layout" not in jobsvc(env, "check").stdout
    client.zadd("jobsvc:lane:prod:q", {"0123456789abcdef": 1})
    done = jobsvc(env, "check")
    notes = [line for line in done.stdout.splitlines() if "old key layout" in line]
    assert len(notes) == 1, done.stdout + done.stderr
    assert "jobsvc:lane:prod:q" in notes[0] and "jobsvc drain" in notes[0], notes
    client.delete("jobsvc:lane:prod:q")
    client.set("jobsvc:lane:prod:lease", "7")
    assert "jobsvc:lane:prod:lease" in jobsvc(env, "check").stdout
    client.delete("jobsvc:lane:prod:lease")
    client.hset(keys.COUNTS, "type:noop:queued", 1)
    assert "old key layout" in jobsvc(env, "check").stdout


# -- one unreadable lane -------------------------------------------------------------

GOOD = ["b-good", "c-good"]


def damage(redis_url: str, key: str) -> None:
    """Replaces a hash by a string: every read of it fails with WRONGTYPE."""
    client = redis.Redis.from_url(redis_url)
    client.delete(key)
    client.set(key, "not a hash")


@pytest.fixture
def lanes(svc, redis_url, monkeypatch) -> dict:
    """Lane ``a-bad`` (its hash damaged; first in every walk), ``b-good`` and
    ``c-good`` whose dispatches were lost (c-good's head also has a retry due),
    ``d-task`` whose active task's hash is damaged."""
    bad = svc.submit("a-bad", "noop")
    with monkeypatch.context() as crash:  # the process dies between promote and enqueue
        crash.setattr(svc.store.dispatcher, "publish", lambda dispatch: None)
        orphan = svc.submit("b-good", "noop")
        head, behind = svc.submit("c-good", "noop"), svc.submit("c-good", "noop")
    damaged = svc.submit("d-task", "noop")
    svc.store.client.zadd(keys.DUE, {bad.id: 0, head.id: 0})  # a-bad's retry comes first
    damage(redis_url, keys.lane("a-bad"))
    damage(redis_url, keys.task(damaged.id))
    return {"orphan": orphan.id, "c": [head.id, behind.id], "damaged": damaged.id, "bad": bad.id}


def test_reconcile_goes_on_past_unreadable_lanes(svc, lanes) -> None:
    from jobsvc.processes.reconcile import reconcile_all

    report = reconcile_all(svc.store, orphan_grace_s=0)
    assert report.failed == ["a-bad", "d-task"]
    assert report.republished == [lanes["orphan"], lanes["c"][0]]
    assert svc.store.client.zcard(keys.DUE) == 0


def test_due_retries_go_on_past_an_unreadable_lane(svc, lanes) -> None:
    assert svc.store.take_due() == 1
    assert svc.store.client.exists(f"rq:job:{lanes['c'][0]}") == 1


def test_reconcile_command_reports_unreadable_lanes_and_goes_on(svc, lanes, env) -> None:
    svc.store.client.hset(keys.task(lanes["orphan"]), "dispatchedAt", 0)  # well past the grace
    done = jobsvc(env, "reconcile")
    assert "republished 1" in done.stdout, done.stdout + done.stderr
    assert "a-bad" in done.stderr and "d-task" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
    assert svc.store.client.exists(f"rq:job:{lanes['orphan']}") == 1


def test_listings_go_on_past_unreadable_lanes(api: Api, lanes) -> None:
    r = api.get("/deployments")
    assert r.status_code == 200, r.text
    assert [s["deployment"] for s in r.json()["deployments"]] == GOOD
    for params in ({}, {"status": "queued"}, {"limit": 2}):
        r = api.get("/tasks", params=params)
        assert r.status_code == 200, r.text
    tasks = api.get("/tasks").json()["tasks"]
    assert {t["id"] for t in tasks} == {lanes["orphan"], *lanes["c"]}
    assert queue_ids(api, "c-good") == lanes["c"]
    for name in ("a-bad", "d-task"):
        r = api.get(f"/deployments/{name}")
        assert r.status_code == 503 and r.json()["error"]["code"] == "lane_unreadable", r.text
    r = api.get(f"/tasks/{lanes['damaged']}")
    assert r.status_code == 503 and r.json()["error"]["code"] == "task_unreadable", r.text


def test_writes_to_an_unreadable_lane_are_refused_and_change_nothing(
    api: Api, lanes, redis_url
) -> None:
    before = task_count(redis_url)
    for r in (
        api.post("/deployments/a-bad/tasks", json={"type": "noop"}),
        api.post("/deployments/a-bad/pause"),
        api.post("/deployments/a-bad/resume"),
    ):
        assert r.status_code == 503 and r.json()["error"]["code"] == "lane_unreadable", r.text
    assert task_count(redis_url) == before
    r = api.post(f"/tasks/{lanes['bad']}/cancel")
    assert r.status_code == 503 and r.json()["error"]["code"] == "task_unreadable", r.text


def test_dashboard_snapshot_goes_on_past_unreadable_lanes(api: Api, lanes) -> None:
    ws = websocket.create_connection(
        api.base_url.replace("http", "ws") + "/ws/dashboard", timeout=10
    )
    snapshot = json.loads(ws.recv())
    ws.close()
    assert snapshot["type"] == "snapshot"
    assert [s["deployment"] for s in snapshot["deployments"]] == GOOD
    with requests.get(api.url("/dashboard/events"), stream=True, timeout=10) as r:
        assert r.status_code == 200
        line = next(x for x in r.iter_lines(decode_unicode=True) if x.startswith("data: "))
    assert [s["deployment"] for s in json.loads(line[6:])["deployments"]] == GOOD
