"""Every row of the transition table, driven through its Lua script; nothing else moves."""

from __future__ import annotations

import json

import pytest
import redis

from jobsvc.errors import Conflict
from jobsvc.scripts import source
from jobsvc.settings import Settings
from jobsvc.states import ENDED, TRANSITIONS, Priority, Status, allowed


def claimed(svc, **kw):
    t = svc.submit("lane", kw.pop("type_", "noop"), **kw)
    return t, svc.store.claim(t.id, "test").token


def test_every_row_names_existing_scripts():
    from jobsvc.scripts import NAMES

    assert {s for row in TRANSITIONS.values() for s in row} <= set(NAMES)


@pytest.mark.parametrize("outcome", ["completed", "failed", "canceled"])
def test_running_to_terminal_by_finish(svc, outcome):
    t, token = claimed(svc)
    assert svc.store.finish(t.id, "lane", token, outcome=outcome, retryable=False).code == "ended"
    assert svc.get(t.id).status == outcome and allowed(Status.RUNNING, Status(outcome))


def test_running_back_to_queued_by_finish_when_retries_remain(svc):
    t, token = claimed(svc, retries=1)
    assert (
        svc.store.finish(t.id, "lane", token, outcome="failed", error={"reason": "x"}).code
        == "retry"
    )
    assert svc.get(t.id).status == "queued" and svc.get(t.id).position == 0


def test_ended_tasks_do_not_move_except_by_requeue(svc):
    t, token = claimed(svc)
    svc.store.finish(t.id, "lane", token, outcome="completed")
    for action in (svc.cancel, svc.skip, svc.retry):
        with pytest.raises(Conflict):
            action(t.id)
    assert svc.store.claim(t.id, "test").code == "not_queued"
    assert not allowed(Status.COMPLETED, Status.QUEUED)


def test_failed_and_canceled_requeue(svc):
    t, token = claimed(svc)
    svc.store.finish(t.id, "lane", token, outcome="failed", retryable=False)
    assert svc.retry(t.id).status == "queued"
    assert svc.cancel(t.id).status == "canceled"
    assert svc.retry(t.id).status == "queued"


def test_a_second_claim_of_the_same_dispatch_is_refused(svc):
    t, _ = claimed(svc)
    assert svc.store.claim(t.id, "other").code == "not_queued"
    waiting = svc.submit("lane", "noop")
    assert svc.store.claim(waiting.id, "other").code == "not_active"


def test_lua_ended_states_and_ranks_mirror_the_states_module(redis_url):
    """_lib.lua keeps its own ENDED set and RANK table: they must say what states.py says."""
    lib = source("promote", Settings()).split("-- promote.lua")[0]
    probe = "return { cjson.encode(ENDED), cjson.encode(RANK) }"
    ended, ranks = redis.Redis.from_url(redis_url, decode_responses=True).eval(lib + probe, 0)
    assert set(json.loads(ended)) == {s.value for s in ENDED}
    assert all(json.loads(ended).values())
    assert json.loads(ranks) == {p.value: p.rank for p in Priority}
