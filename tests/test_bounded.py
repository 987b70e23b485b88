"""Bounded responses: a deployment's queue stops at ``queueLimit``, a task
listing at ``limit``, and a listed task carries no unbounded data (a huge
payload or result, a long history): ``GET /tasks/{id}`` has the whole task."""

from __future__ import annotations

import pytest

from tests.api_client import Api, assert_error
from tests.helpers import wait_until

BIG = "x" * 200_000  # within the 256 KiB body limit


@pytest.fixture
def api(web_server: str) -> Api:
    return Api(web_server)


def test_queue_stops_at_queue_limit(api: Api, svc) -> None:
    ids = [svc.submit("busy", "noop").id for _ in range(105)]
    lane = api.get("/deployments/busy").json()
    assert [t["id"] for t in lane["queue"]] == ids[:100]  # the default
    assert lane["queueDepth"] == 104
    for limit, expect in (("1", 1), ("7", 7), ("1000", 105)):
        r = api.get("/deployments/busy", params={"queueLimit": limit})
        assert r.status_code == 200, r.text
        assert [t["id"] for t in r.json()["queue"]] == ids[:expect]
        assert [t["position"] for t in r.json()["queue"]] == list(range(expect))


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "1.5", " 5", "5\n", "9" * 40])
def test_bad_queue_limit_is_refused(api: Api, limit: str) -> None:
    r = api.get("/deployments/busy", params={"queueLimit": limit})
    assert_error(r, 400, "invalid_input", "queueLimit")


def test_task_listing_stops_at_limit(api: Api, svc) -> None:
    ids = [svc.submit(f"d{i % 3}", "noop").id for i in range(7)]
    r = api.get("/tasks", params={"limit": 5})
    assert [t["id"] for t in r.json()["tasks"]] == ids[::-1][:5]
    assert api.get("/tasks", params={"limit": 500}).status_code == 200
    assert_error(api.get("/tasks", params={"limit": 501}), 400, "invalid_input", "limit")


def test_listing_of_forty_huge_tasks_stays_small(api: Api) -> None:
    """The report: one call returned 10 MB for 40 tasks."""
    for _ in range(40):
        api.submit("huge", payload={"blob": BIG})
    r = api.get("/tasks", params={"limit": 40})
    assert r.status_code == 200 and len(r.json()["tasks"]) == 40
    assert len(r.content) < 40 * 8 * 1024, len(r.content)
    r = api.get("/deployments/huge", params={"queueLimit": 40})
    assert len(r.json()["queue"]) == 40 and len(r.content) < 40 * 8 * 1024


def test_listed_task_leaves_out_huge_fields_and_old_history(api: Api, svc, make_worker) -> None:
    huge = api.submit("a", "count", payload={"n": BIG})  # its result holds BIG too
    make_worker()
    wait_until(lambda: api.task(huge["id"])["status"] == "completed", what="the huge task")
    api.post("/deployments/b/pause")
    long = api.submit("b")
    for _ in range(15):  # 31 history entries: queued, then canceled and queued again
        svc.cancel(long["id"])
        svc.retry(long["id"])
    small = api.submit("b", payload={"ref": "v1"})
    listed = {t["id"]: t for t in api.get("/tasks").json()["tasks"]}

    whole = api.task(huge["id"])
    assert whole["payload"] == {"n": BIG} and whole["result"] == {"n": BIG}
    assert "truncated" not in whole
    assert listed[huge["id"]] == {
        **whole,
        "payload": None,
        "result": None,
        "truncated": ["payload", "result"],
    }
    whole = api.task(long["id"])
    assert len(whole["history"]) == 31 and "truncated" not in whole
    assert listed[long["id"]] == {
        **whole,
        "history": whole["history"][-20:],
        "truncated": ["history"],
    }
    assert listed[small["id"]] == api.task(small["id"])  # nothing cut: the same task
    queue = api.get("/deployments/b").json()["queue"]
    assert [t.get("truncated") for t in queue] == [["history"], None]
