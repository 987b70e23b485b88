"""Retention: ended tasks flagged, then deleted with everything that points at them."""

from __future__ import annotations

import pytest
import redis

from jobsvc import crons, keys
from jobsvc.errors import NotFound
from jobsvc.processes.retention import cleanup_ended
from tests.helpers import wait_ended, wait_until


def test_cleanup_deletes_ended_tasks_and_their_keys_only(svc, make_worker, redis_url):
    done = svc.submit("prod-eu", "echo", {"lines": ["x"]}, dedupe_key="d")
    make_worker()
    wait_ended(svc, done.id)
    svc.pause("prod-eu")
    waiting = svc.submit("prod-eu", "noop")
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    assert raw.exists(f"jobsvc:t:{done.id}:log", keys.lane_events("prod-eu")) == 2

    assert cleanup_ended(svc.store, days=0) == (1, 1)

    left = raw.keys(f"jobsvc:t:{done.id}*")
    assert left == [] and raw.zscore("jobsvc:idx:all", done.id) is None
    assert raw.keys("jobsvc:dedupe:*") == []
    assert "echo" not in svc.stats()["byType"]  # counters let go of it too
    assert svc.deployment("prod-eu")["lastTask"] is None  # no summary points at a hole
    assert svc.get(waiting.id).status == "queued"
    assert svc.submit("prod-eu", "echo", {"lines": ["x"]}, dedupe_key="d").id != done.id


def test_cleanup_flags_first_and_deletes_after_the_grace(svc, make_worker):
    t = svc.submit("prod-eu", "noop", cooldown=0)
    make_worker()
    wait_ended(svc, t.id)
    assert cleanup_ended(svc.store, days=0, grace_s=3600) == (1, 0)
    assert svc.get(t.id).status == "completed"
    assert cleanup_ended(svc.store, days=0, grace_s=0) == (0, 1)


def test_cleanup_spares_tasks_in_cooldown_and_recent_ones(svc, make_worker):
    cooling = svc.submit("prod-eu", "noop", dedupe_key="c", cooldown=3600)
    make_worker()
    wait_ended(svc, cooling.id)
    assert cleanup_ended(svc.store, days=0) == (0, 0)
    assert cleanup_ended(svc.store, days=1) == (0, 0)
    assert svc.submit("prod-eu", "noop", dedupe_key="c").id == cooling.id


def test_daily_job_flags_in_one_run_and_deletes_in_a_later_one(svc, make_worker, monkeypatch):
    """The job the scheduler runs (crons.cleanup_job), with a period of 1 s instead of a day."""
    monkeypatch.setattr(crons, "process_store", lambda: svc.store)
    t = svc.submit("prod-eu", "noop", cooldown=0)
    make_worker()
    wait_ended(svc, t.id)

    first = crons.cleanup_job(days=0, every_s=1.0)
    assert first == {"flagged": 1, "deleted": 0, "deliveriesDeleted": 0}
    assert svc.get(t.id).status == "completed"
    later = wait_until(
        lambda: _deleting_run(crons.cleanup_job(days=0, every_s=1.0)),
        timeout=10,
        what="a later run of the cleanup job to delete",
    )
    assert later == {"flagged": 0, "deleted": 1, "deliveriesDeleted": 0}
    with pytest.raises(NotFound):
        svc.get(t.id)


def _deleting_run(result: dict) -> dict | None:
    """The result of a run that deleted something; None for a skipped or empty one."""
    return result if result.get("deleted") else None


def test_stale_flag_is_written_only_on_an_ended_task_past_its_cooldown(svc):
    """Retention's first phase is one script: a task requeued since retention read it,
    or still in its cooldown, is not flagged; a flagged one keeps its first flag."""
    t = svc.submit("prod-eu", "noop", dedupe_key="d", cooldown=3600)
    token = svc.store.claim(t.id, "test").token
    svc.store.finish(t.id, "prod-eu", token, outcome="failed", retryable=False)
    now = svc.store.redis_now_us()
    assert svc.store.flag_stale(t.id, now) == 0
    past_cooldown = now + 3601 * 1_000_000
    assert svc.store.flag_stale(t.id, past_cooldown) == past_cooldown
    assert svc.store.flag_stale(t.id, past_cooldown + 1) == past_cooldown
    svc.retry(t.id)
    assert svc.get(t.id).status == "queued"
    assert svc.store.flag_stale(t.id, past_cooldown) == 0
    assert svc.store.delete(t.id) is False
