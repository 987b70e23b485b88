"""The HTTP API's happy paths, over a real loopback server and a real Redis."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
import redis

from jobsvc.processes.redis_server import free_port
from jobsvc.settings import Settings
from jobsvc.web import create_app
from tests.api_client import Api, assert_error, serve
from tests.helpers import wait_until

TASK_FIELDS = {
    "id",
    "deployment",
    "type",
    "status",
    "priority",
    "payload",
    "metadata",
    "dedupeKey",
    "position",
    "retryCount",
    "maxRetries",
    "timeoutS",
    "cooldownS",
    "createdAt",
    "startedAt",
    "completedAt",
    "lastOutputAt",
    "cooldownUntil",
    "progress",
    "result",
    "error",
    "history",
    "pool",
    "dependsOn",
    "waitingOn",
    "steps",
}
SUMMARY_FIELDS = {
    "deployment",
    "activeTaskId",
    "activeTaskStatus",
    "queueDepth",
    "paused",
    "lastTask",
}


@pytest.fixture
def api(web_server: str) -> Api:
    return Api(web_server)


def wait_status(api: Api, task_id: str, status: str, timeout: float = 20.0) -> dict:
    return wait_until(
        lambda: (lambda t: t if t["status"] == status else None)(api.task(task_id)),
        timeout,
        f"task {task_id} to be {status}",
    )


# -- submitting ------------------------------------------------------------------------


def test_submit_answers_201_with_the_contract_task(api: Api) -> None:
    r = api.post(
        "/deployments/prod-eu/tasks",
        json={
            "type": "noop",
            "payload": {"ref": "v1"},
            "priority": "high",
            "maxRetries": 2,
            "timeoutS": 30,
            "metadata": {"by": "portal"},
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["deduplicated"] is False
    task = body["task"]
    assert set(task) == TASK_FIELDS
    assert task["deployment"] == "prod-eu" and task["type"] == "noop"
    assert task["pool"] == "standard"
    assert (task["status"], task["priority"], task["position"]) == ("queued", "high", 0)
    assert task["payload"] == {"ref": "v1"} and task["metadata"] == {"by": "portal"}
    assert (task["maxRetries"], task["timeoutS"], task["retryCount"]) == (2, 30, 0)
    assert task["createdAt"].endswith("Z")
    assert task["history"][0]["status"] == "queued"
    assert r.headers["Location"] == f"/api/v1/tasks/{task['id']}"
    assert api.task(task["id"]) == task


def test_same_dedupe_key_answers_200_with_the_earlier_task(api: Api) -> None:
    first = api.submit("prod-eu", dedupeKey="click-1")
    r = api.post("/deployments/prod-eu/tasks", json={"type": "noop", "dedupeKey": "click-1"})
    assert r.status_code == 200
    assert r.json()["deduplicated"] is True and r.json()["task"]["id"] == first["id"]
    via_metadata = api.submit("prod-eu", expect=200, metadata={"dedupeKey": "click-1"})
    assert via_metadata["id"] == first["id"]


def test_key_fields_dedupe_regardless_of_key_order(api: Api) -> None:
    first = api.submit("prod-eu", keyFields={"ref": "v1", "region": "eu"})
    again = api.submit("prod-eu", expect=200, keyFields={"region": "eu", "ref": "v1"})
    other = api.submit("prod-eu", keyFields={"region": "eu", "ref": "v2"})
    assert again["id"] == first["id"] != other["id"]


def test_dedupe_identity_is_per_deployment_and_type(api: Api) -> None:
    first = api.submit("prod-eu", dedupeKey="k")
    assert api.submit("prod-us", dedupeKey="k")["id"] != first["id"]
    assert api.submit("prod-eu", "echo", dedupeKey="k")["id"] != first["id"]


def test_ended_task_holds_its_identity_through_the_cooldown(api: Api) -> None:
    first = api.submit("prod-eu", dedupeKey="k", cooldownS=3600)
    ended = api.post(f"/tasks/{first['id']}/cancel").json()["task"]
    assert ended["status"] == "canceled" and ended["cooldownUntil"] is not None
    again = api.submit("prod-eu", expect=200, dedupeKey="k", cooldownS=3600)
    assert again["id"] == first["id"]
    assert api.get("/stats").json()["inCooldown"] == 1


def test_ended_task_without_cooldown_frees_its_identity(api: Api) -> None:
    first = api.submit("prod-eu", dedupeKey="k")
    api.post(f"/tasks/{first['id']}/cancel")
    assert api.submit("prod-eu", dedupeKey="k")["id"] != first["id"]


# -- reading and listing ---------------------------------------------------------------


def test_listing_is_newest_first_and_pages_with_the_cursor(api: Api) -> None:
    ids = [api.submit(f"lane-{i % 3}")["id"] for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = api.get("/tasks", params=params).json()
        seen += [t["id"] for t in body["tasks"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor.isdigit()
    assert seen == ids[::-1] and pages == 3


def test_listing_of_all_tasks_pages_across_every_status(api: Api, svc) -> None:
    """No index holds every task: the status indexes together are read as one."""
    ids = [api.submit(f"lane-{i}")["id"] for i in range(7)]
    for task_id, outcome in zip(ids[:4], ["completed", "failed", "canceled", None]):
        token = svc.store.claim(task_id, "test").token
        if outcome:
            svc.store.finish(
                task_id, f"lane-{ids.index(task_id)}", token, outcome=outcome, retryable=False
            )
    svc.skip(api.submit("lane-6")["id"])
    seen, cursor = [], None
    while True:
        body = api.get(
            "/tasks", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [(t["id"], t["status"]) for t in body["tasks"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert [i for i, _ in seen][1:] == ids[::-1]
    assert {s for _, s in seen} == {
        "queued",
        "running",
        "completed",
        "failed",
        "canceled",
        "skipped",
    }


def test_listing_filters_by_deployment_status_and_type(api: Api) -> None:
    a1 = api.submit("a")
    a2 = api.submit("a", "echo")
    b1 = api.submit("b", "echo")
    api.post(f"/tasks/{a2['id']}/cancel")

    def listed(**params: str) -> list[str]:
        r = api.get("/tasks", params=params)
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["tasks"]]

    assert listed(deployment="a") == [a2["id"], a1["id"]]
    assert listed(type="echo") == [b1["id"], a2["id"]]
    assert listed(status="canceled") == [a2["id"]]
    assert listed(deployment="a", status="queued") == [a1["id"]]
    assert listed(deployment="b", type="noop") == []
    assert listed(deployment="", status="", type="") == [b1["id"], a2["id"], a1["id"]]


def test_listing_of_an_empty_store_has_no_cursor(api: Api) -> None:
    assert api.get("/tasks").json() == {"tasks": [], "nextCursor": None}


def test_position_follows_lane_order_and_is_null_once_ended(api: Api) -> None:
    active = api.submit("prod-eu")
    low = api.submit("prod-eu", priority="low")
    high = api.submit("prod-eu", priority="high")
    critical = api.submit("prod-eu", priority="critical")
    positions = [api.task(t["id"])["position"] for t in (active, critical, high, low)]
    assert positions == [0, 1, 2, 3]
    api.post(f"/tasks/{critical['id']}/skip")
    assert api.task(critical["id"])["position"] is None
    assert api.task(high["id"])["position"] == 1


def test_deployment_shows_summary_and_queue_in_lane_order(api: Api) -> None:
    active = api.submit("prod-eu")
    low = api.submit("prod-eu", priority="low")
    critical = api.submit("prod-eu", priority="critical")
    body = api.get("/deployments/prod-eu").json()
    assert set(body) == SUMMARY_FIELDS | {"queue"}
    assert body["activeTaskId"] == active["id"] and body["activeTaskStatus"] == "queued"
    assert body["queueDepth"] == 2 and body["paused"] is False
    assert [t["id"] for t in body["queue"]] == [active["id"], critical["id"], low["id"]]


def test_unknown_deployment_is_an_empty_lane(api: Api) -> None:
    r = api.get("/deployments/never-seen")
    assert r.status_code == 200
    assert r.json() == {
        "deployment": "never-seen",
        "activeTaskId": None,
        "activeTaskStatus": None,
        "queueDepth": 0,
        "paused": False,
        "lastTask": None,
        "queue": [],
    }


def test_deployments_listing_pages_by_name(api: Api) -> None:
    for name in ("c", "a", "b"):
        api.submit(name)
    first = api.get("/deployments", params={"limit": 2}).json()
    assert [s["deployment"] for s in first["deployments"]] == ["a", "b"]
    assert all(set(s) == SUMMARY_FIELDS for s in first["deployments"])
    rest = api.get("/deployments", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert [s["deployment"] for s in rest["deployments"]] == ["c"]
    assert rest["nextCursor"] is None


def test_stats_count_by_status_type_and_priority(api: Api) -> None:
    api.submit("a", priority="high")
    api.submit("a", "echo")
    canceled = api.submit("b")
    api.post(f"/tasks/{canceled['id']}/cancel")
    stats = api.get("/stats").json()
    assert stats["byStatus"]["queued"] == 2 and stats["byStatus"]["canceled"] == 1
    assert stats["byType"] == {"noop": {"queued": 1, "canceled": 1}, "echo": {"queued": 1}}
    assert stats["byPriority"] == {"high": {"queued": 1}, "medium": {"queued": 1, "canceled": 1}}
    assert stats["inCooldown"] == 0 and stats["workers"] == []


def test_healthz_answers_when_redis_does(api: Api) -> None:
    r = api.get("/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True}


# -- acting on tasks -------------------------------------------------------------------


def test_cancel_ends_a_queued_task_and_then_answers_409(api: Api) -> None:
    task = api.submit("prod-eu")
    r = api.post(f"/tasks/{task['id']}/cancel")
    assert r.status_code == 200 and r.json()["task"]["status"] == "canceled"
    assert [h["status"] for h in r.json()["task"]["history"]] == ["queued", "canceled"]
    assert_error(api.post(f"/tasks/{task['id']}/cancel"), 409, "invalid_state")


def test_skip_ends_a_waiting_task_but_not_the_active_one(api: Api) -> None:
    active = api.submit("prod-eu")
    waiting = api.submit("prod-eu")
    assert_error(api.post(f"/tasks/{active['id']}/skip"), 409, "invalid_state")
    r = api.post(f"/tasks/{waiting['id']}/skip")
    assert r.status_code == 200 and r.json()["task"]["status"] == "skipped"
    assert_error(api.post(f"/tasks/{waiting['id']}/skip"), 409, "invalid_state")


def test_retry_queues_a_canceled_task_again_at_the_back(api: Api) -> None:
    first = api.submit("prod-eu")
    api.post(f"/tasks/{first['id']}/cancel")
    behind = api.submit("prod-eu")
    assert_error(api.post(f"/tasks/{behind['id']}/retry"), 409, "invalid_state")
    r = api.post(f"/tasks/{first['id']}/retry")
    assert r.status_code == 200
    task = r.json()["task"]
    assert (task["id"], task["status"], task["position"]) == (first["id"], "queued", 1)
    assert [h["status"] for h in task["history"]] == ["queued", "canceled", "queued"]
    assert_error(api.post(f"/tasks/{first['id']}/retry"), 409, "invalid_state")


def test_action_bodies_are_optional_and_ignored(api: Api) -> None:
    task = api.submit("prod-eu")
    r = api.post(
        f"/tasks/{task['id']}/cancel",
        data=b"not json at all",
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 200 and r.json()["task"]["status"] == "canceled"
    r = api.post("/deployments/prod-eu/pause", json={"anything": True})
    assert r.status_code == 200 and r.json()["paused"] is True


def test_paused_lane_starts_nothing_until_resumed(api: Api) -> None:
    r = api.post("/deployments/prod-eu/pause")
    assert r.status_code == 200 and set(r.json()) == SUMMARY_FIELDS
    assert r.json()["paused"] is True
    task = api.submit("prod-eu")
    lane = api.get("/deployments/prod-eu").json()
    assert lane["activeTaskId"] is None and lane["queueDepth"] == 1
    r = api.post("/deployments/prod-eu/resume")
    assert r.json()["paused"] is False and r.json()["activeTaskId"] == task["id"]
    assert r.json()["queueDepth"] == 0


# -- with a worker ---------------------------------------------------------------------


def test_worker_completes_task_and_its_log_is_served(api: Api, make_worker) -> None:
    make_worker()
    task = api.submit("prod-eu", "echo", payload={"lines": ["one", "twö"]})
    done = wait_status(api, task["id"], "completed")
    assert done["result"] == {"lines": 2} and done["position"] is None
    assert done["startedAt"] and done["completedAt"]
    r = api.get(f"/tasks/{task['id']}/log")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert r.text == "one\ntwö\n"
    lane = api.get("/deployments/prod-eu").json()
    assert lane["lastTask"]["id"] == task["id"] and lane["lastTask"]["status"] == "completed"


def test_cancel_stops_a_running_task(api: Api, make_worker, tmp_path: Path) -> None:
    make_worker()
    task = api.submit("prod-eu", "wait_file", payload={"path": str(tmp_path / "never")})
    wait_status(api, task["id"], "running")
    r = api.post(f"/tasks/{task['id']}/cancel")
    assert r.status_code == 200 and r.json()["task"]["status"] == "canceled"


def test_retry_of_a_failed_task_runs_it_again(api: Api, make_worker) -> None:
    make_worker()
    task = api.submit("prod-eu", "fail", maxRetries=0)
    failed = wait_status(api, task["id"], "failed")
    assert failed["error"]["message"]
    r = api.post(f"/tasks/{task['id']}/retry")
    assert r.status_code == 200 and r.json()["task"]["retryCount"] == failed["retryCount"]
    again = wait_until(
        lambda: (lambda t: t if len(t["history"]) == 6 else None)(api.task(task["id"])),
        what="the second attempt to end",
    )
    assert [h["status"] for h in again["history"]] == [
        "queued",
        "running",
        "failed",
        "queued",
        "running",
        "failed",
    ]


def test_stats_list_the_workers(api: Api, make_worker) -> None:
    make_worker()
    workers = wait_until(lambda: api.get("/stats").json()["workers"], what="a worker")
    assert {"name", "state", "queues", "currentJobId"} <= set(workers[0])


# -- what RQ and Redis hold ------------------------------------------------------------


def test_rq_jobs_carry_json_only(api: Api, redis_url: str) -> None:
    for lane in ("a", "b", "c"):
        api.submit(lane, "echo", payload={"lines": ["x"]}, priority="high")
    raw = redis.Redis.from_url(redis_url)
    jobs = raw.keys("rq:job:*")
    assert len(jobs) == 3
    for key in jobs:
        data = json.loads(zlib.decompress(raw.hget(key, "data")))
        assert data[0] == "jobsvc.runner.run_task"
        assert data[2] == [key.decode().removeprefix("rq:job:")]


def test_redis_down_answers_503_json(env: dict[str, str]) -> None:
    settings = Settings.from_env({**env, "JOBSVC_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    with serve(create_app(settings)) as base:
        api = Api(base)
        assert_error(api.get("/healthz"), 503, "redis_unavailable")
        assert_error(api.get("/tasks"), 503, "redis_unavailable")
        assert_error(api.get("/stats"), 503, "redis_unavailable")
        r = api.post("/deployments/prod-eu/tasks", json={"type": "noop"})
        assert_error(r, 503, "redis_unavailable")


def test_submit_answer_equals_what_a_read_returns(web_server, svc):
    """The 201 body is rendered without reading the task back: it must match a read."""
    import requests

    for body in (
        {"type": "noop"},
        {
            "type": "sleep",
            "payload": {"seconds": 1},
            "priority": "low",
            "dedupeKey": "k",
            "cooldownS": 5,
            "maxRetries": 2,
            "timeoutS": 30,
            "metadata": {"who": "me"},
        },
        {"type": "noop", "keyFields": {"ref": "v1"}},
    ):
        r = requests.post(f"{web_server}/api/v1/deployments/prod-eu/tasks", json=body, timeout=10)
        assert r.status_code == 201
        task = r.json()["task"]
        assert (
            task
            == requests.get(f"{web_server}/api/v1/tasks/{task['id']}", timeout=10).json()["task"]
        )
