"""The Python API as the contract names it: ``svc.list/get/delete/cleanup/stats/retry``
(a real Redis, a real worker)."""

from __future__ import annotations

import inspect

import pytest

from jobsvc import connect
from jobsvc.errors import Conflict, NotFound
from tests.helpers import wait_ended


def test_the_contracts_methods_exist(svc):
    for name in ("submit", "events", "list", "get", "stats", "retry", "delete", "cleanup"):
        assert callable(getattr(svc, name)), name
    assert inspect.signature(svc.retry).parameters["from_start"].default is False
    assert inspect.signature(svc.cleanup).parameters["days"].default == 30


def test_connect_and_get(redis_url, env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    svc = connect(redis_url)
    task = svc.submit("prod-eu", "noop", dedupe_key="click-1")
    got = svc.get(task.id)
    assert got.id == task.id and got.status == "queued" and got.dedupe_key == "click-1"
    assert got.pool == "standard"
    for unknown in ("0" * 16, "not an id", "a:h"):
        with pytest.raises(NotFound):
            svc.get(unknown)


def test_list_reads_page_by_page_as_it_is_iterated(svc):
    ids = [svc.submit("prod-eu", "noop").id for _ in range(120)]
    pages = []
    read = svc.store.list_tasks

    def counting(**kwargs):
        pages.append(kwargs["cursor"])
        return read(**kwargs)

    svc.store.list_tasks = counting
    listing = svc.list(deployment="prod-eu")
    assert pages == []  # nothing read before the first task is asked for
    assert next(listing).id == ids[-1]
    assert len(pages) == 1
    assert [t.id for t in listing] == ids[::-1][1:]
    assert len(pages) == 3  # 50 + 50 + 20


def test_stats_count_by_status_and_name_the_workers_pool(svc, make_worker):
    make_worker()
    done = svc.submit("prod-eu", "noop")
    wait_ended(svc, done.id)
    failed = svc.submit("prod-us", "fail")
    wait_ended(svc, failed.id)
    stats = svc.stats()
    assert stats["byStatus"]["completed"] == 1 and stats["byStatus"]["failed"] == 1
    assert stats["byType"]["fail"]["failed"] == 1
    assert [(w["pool"], w["state"]) for w in stats["workers"]] == [("standard", "idle")]
    assert stats["draining"] is False


def test_retry_queues_a_failed_task_again_from_start_or_not(svc, make_worker):
    make_worker()
    task = svc.submit("prod-eu", "fail", {"times": 1})
    assert wait_ended(svc, task.id)["status"] == "failed"
    again = svc.retry(task.id)
    assert again.id == task.id and again.status in ("queued", "running", "completed")
    assert wait_ended(svc, task.id)["status"] == "completed"
    with pytest.raises(Conflict):
        svc.retry(task.id, from_start=True)  # completed: nothing to retry


def test_cleanup_deletes_ended_tasks_and_spares_the_rest(svc, make_worker):
    make_worker()
    ended = svc.submit("prod-eu", "noop")
    wait_ended(svc, ended.id)
    assert svc.cleanup() == (0, 0)  # the default keeps 30 days
    svc.pause("prod-us")
    waiting = svc.submit("prod-us", "noop")
    assert svc.cleanup(days=0) == (1, 1)
    with pytest.raises(NotFound):
        svc.get(ended.id)
    assert svc.get(waiting.id).status == "queued"
