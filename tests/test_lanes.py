"""Lanes against a real Redis: order, dedupe, one active task, retries, timeouts, cancel."""

from __future__ import annotations

import pytest

from jobsvc.errors import Conflict
from tests.helpers import wait_ended, wait_until


def history_statuses(task: dict) -> list[str]:
    return [h["status"] for h in task["history"]]


def test_lane_orders_by_priority_then_acceptance(svc):
    first = svc.submit("prod-eu", "noop")  # becomes active at once
    low = svc.submit("prod-eu", "noop", priority="low")
    med1 = svc.submit("prod-eu", "noop")
    crit = svc.submit("prod-eu", "noop", priority="critical")
    med2 = svc.submit("prod-eu", "noop")
    queue = [t["id"] for t in svc.deployment("prod-eu")["queue"]]
    assert queue == [first.id, crit.id, med1.id, med2.id, low.id]
    assert [svc.get(i).position for i in queue] == [0, 1, 2, 3, 4]


def test_same_dedupe_key_returns_the_queued_task(svc):
    a = svc.submit("prod-eu", "noop", dedupe_key="click-1")
    b = svc.submit("prod-eu", "noop", dedupe_key="click-1")
    c = svc.submit("prod-us", "noop", dedupe_key="click-1")
    assert a.id == b.id and c.id != a.id
    assert svc.store.counts()["byStatus"]["queued"] == 2


def test_key_fields_identity_ignores_key_order(svc):
    a = svc.submit("prod-eu", "noop", key_fields={"ref": "v1", "env": "eu"})
    b = svc.submit("prod-eu", "noop", key_fields={"env": "eu", "ref": "v1"})
    c = svc.submit("prod-eu", "noop", key_fields={"env": "eu", "ref": "v2"})
    assert a.id == b.id != c.id


def test_cooldown_returns_ended_task_until_window_passes(svc, make_worker):
    make_worker()
    a = svc.submit("prod-eu", "noop", dedupe_key="d", cooldown=2)
    done = wait_ended(svc, a.id)
    assert done["cooldownUntil"] is not None
    assert svc.submit("prod-eu", "noop", dedupe_key="d", cooldown=2).id == a.id
    wait_until(
        lambda: svc.submit("prod-eu", "noop", dedupe_key="d").id != a.id, 10, "cooldown to pass"
    )


def test_one_task_runs_at_a_time_per_lane(svc, make_worker, tmp_path):
    gate = tmp_path / "go"
    first = svc.submit("prod-eu", "wait_file", {"path": str(gate)})
    second = svc.submit("prod-eu", "noop")
    other_lane = svc.submit("prod-us", "noop")
    make_worker()
    make_worker()
    assert wait_ended(svc, other_lane.id)["status"] == "completed"
    wait_until(lambda: svc.get(first.id).status == "running", what="first to run")
    assert svc.get(second.id).status == "queued" and svc.get(second.id).position == 1
    gate.touch()
    assert wait_ended(svc, second.id)["status"] == "completed"
    t1, t2 = svc.store.get(first.id), svc.store.get(second.id)
    assert t1["completedAt"] <= t2["startedAt"]


def test_retry_with_backoff_keeps_the_lane_waiting(svc, make_worker):
    flaky = svc.submit("prod-eu", "fail", {"times": 2}, retries=3)
    after = svc.submit("prod-eu", "noop")
    make_worker()
    done = wait_ended(svc, flaky.id)
    assert done["status"] == "completed" and done["retryCount"] == 2
    assert history_statuses(done) == [
        "queued",
        "running",
        "queued",
        "running",
        "queued",
        "running",
        "completed",
    ]
    assert done["error"] is None and done["result"] == {"succeededOnAttempt": 3}
    assert wait_ended(svc, after.id)["startedAt"] >= done["completedAt"]


def test_retries_exhausted_fail_with_the_error(svc, make_worker):
    t = svc.submit("prod-eu", "fail", {"message": "boom"}, retries=1)
    make_worker()
    done = wait_ended(svc, t.id)
    assert done["status"] == "failed" and done["retryCount"] == 1
    assert done["error"]["reason"] == "exception"
    assert done["error"]["type"] == "TaskFailed" and done["error"]["message"] == "boom"
    assert "Traceback" in done["error"]["traceback"]


@pytest.mark.parametrize("task_type,payload", [("sleep", {"seconds": 30}), ("hang", {})])
def test_hard_timeout_fails_the_attempt(svc, make_worker, task_type, payload):
    t = svc.submit("prod-eu", task_type, payload, timeout=1)
    make_worker()
    done = wait_ended(svc, t.id, timeout=20)
    assert done["status"] == "failed" and done["error"]["reason"] == "timeout"


def test_cancel_running_task_stops_it_and_lane_moves_on(svc, make_worker, tmp_path):
    running = svc.submit("prod-eu", "wait_file", {"path": str(tmp_path / "never")})
    nxt = svc.submit("prod-eu", "noop")
    make_worker()
    wait_until(lambda: svc.get(running.id).status == "running", what="task to run")
    assert svc.cancel(running.id).status == "canceled"
    assert wait_ended(svc, nxt.id)["status"] == "completed"
    with pytest.raises(Conflict):
        svc.cancel(running.id)


def test_cancel_and_skip_queued_tasks(svc):
    active = svc.submit("prod-eu", "noop")
    waiting = svc.submit("prod-eu", "noop")
    other = svc.submit("prod-eu", "noop")
    with pytest.raises(Conflict):
        svc.skip(active.id)
    assert svc.skip(waiting.id).status == "skipped"
    assert svc.cancel(other.id).status == "canceled"
    assert svc.deployment("prod-eu")["queueDepth"] == 0
    assert svc.cancel(active.id).status == "canceled"
    assert svc.deployment("prod-eu")["activeTaskId"] is None


def test_retry_endpoint_requeues_at_back_with_same_id(svc, make_worker):
    t = svc.submit("prod-eu", "fail", retries=0)
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "failed"
    svc.pause("prod-eu")
    behind = svc.submit("prod-eu", "noop")
    again = svc.retry(t.id)
    # Paused with none active: the head (behind) is at 0, the retried task after it.
    assert again.id == t.id and again.status == "queued" and again.position == 1
    assert svc.deployment("prod-eu")["queue"][0]["id"] == behind.id
    with pytest.raises(Conflict):
        svc.retry(t.id)


def test_paused_lane_starts_nothing_until_resumed(svc, make_worker):
    svc.pause("prod-eu")
    t = svc.submit("prod-eu", "noop")
    make_worker()
    # The contract: in a paused lane with none active, the task that will start first is at 0.
    assert svc.get(t.id).position == 0 and svc.deployment("prod-eu")["activeTaskId"] is None
    assert svc.resume("prod-eu")["paused"] is False
    assert wait_ended(svc, t.id)["status"] == "completed"


def test_output_and_progress_are_stored(svc, make_worker):
    t = svc.submit("prod-eu", "echo", {"lines": ["one", "two"]})
    c = svc.submit("prod-eu", "count", {"n": 7})
    make_worker()
    wait_ended(svc, c.id)
    assert svc.store.log(t.id) == "one\ntwo\n"
    counted = svc.store.get(c.id)
    assert counted["progress"] == {"percent": 50, "message": "half way"}
    assert counted["lastOutputAt"] is not None and counted["result"] == {"n": 7}


def test_shell_runs_allowlisted_command_and_streams_output(svc, make_worker):
    ok = svc.submit("prod-eu", "shell", {"command": "greet", "args": {"name": "$(id)"}})
    bad = svc.submit("prod-eu", "shell", {"command": "false"})
    make_worker()
    assert wait_ended(svc, ok.id)["status"] == "completed"
    assert svc.store.log(ok.id) == "hello $(id)\n"
    assert wait_ended(svc, bad.id)["error"]["message"] == "false exited with status 1"


def test_submit_refuses_command_outside_allowlist(svc):
    from jobsvc.errors import InvalidInput

    with pytest.raises(InvalidInput) as exc:
        svc.submit("prod-eu", "shell", {"command": "rm"})
    assert exc.value.field == "payload.command"


def test_preflight_failure_queues_nothing(svc):
    from jobsvc.errors import PreflightFailed

    with pytest.raises(PreflightFailed):
        svc.submit("prod-eu", "guarded", {})
    assert svc.store.counts()["byStatus"]["queued"] == 0
    assert svc.submit("prod-eu", "guarded", {"ok": True}).status == "queued"


def test_rq_jobs_carry_only_the_task_id_as_json(svc, redis_url):
    import json
    import zlib

    import redis

    t = svc.submit("prod-eu", "noop")
    raw = redis.Redis.from_url(redis_url).hget(f"rq:job:{t.id}", "data")
    func, _instance, args, kwargs = json.loads(zlib.decompress(raw))
    assert (func, args, kwargs) == ("jobsvc.runner.run_task", [t.id], {})
