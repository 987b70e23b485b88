"""Multi-step tasks with real workers: memoised steps, in-place retries, resumes,
fenced writes, ctx.state, and what viewers see.

The ``stepped`` task (tests/task_types.py) appends ``<step> <attempt>`` to a
runs file from inside each step's function, outside the task's own step
records, so the tests count the runs that really happened.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import requests
import websocket

from bench.invariants import rerun_steps
from jobsvc import keys
from jobsvc.service import Service
from jobsvc.settings import Settings
from tests.helpers import jobsvc, wait_ended, wait_until
from tests.test_durability import answering
from tests.test_faults import reap_when_lease_expires
from tests.test_live import sse_messages, ws_messages


def runs(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def steps_of(task: dict) -> list[tuple[str, str, int]]:
    return [(s["name"], s["status"], s["attempts"]) for s in task["steps"]]


def step_running(svc, task_id: str, name: str) -> bool:
    return any(
        s["name"] == name and s["status"] == "running" for s in svc.store.get(task_id)["steps"]
    )


def stepped(tmp_path: Path, **payload) -> dict:
    return {"steps": ["a", "b", "c"], "runs": str(tmp_path / "runs"), **payload}


def test_step_failing_twice_then_succeeding_runs_earlier_steps_once(svc, make_worker, tmp_path):
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, fail={"b": 2}, retries=2))
    make_worker()
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed" and done["retryCount"] == 0
    assert runs(tmp_path / "runs") == ["a 1", "b 1", "b 1", "b 1", "c 1"]
    assert steps_of(done) == [("a", "completed", 1), ("b", "completed", 3), ("c", "completed", 1)]
    assert [s["result"] for s in done["steps"]] == [
        {"step": "a", "attempt": 1, "run": 1},
        {"step": "b", "attempt": 1, "run": 3},
        {"step": "c", "attempt": 1, "run": 1},
    ]
    assert done["result"]["results"] == [s["result"] for s in done["steps"]]
    assert svc.log(t.id).count("== step b: retrying\n") == 2


def test_automatic_retry_resumes_at_the_step_that_failed(svc, make_worker, tmp_path):
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, fail={"b": 1}))
    make_worker()
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed" and done["retryCount"] == 1
    assert runs(tmp_path / "runs") == ["a 1", "b 1", "b 2", "c 2"]
    assert steps_of(done) == [("a", "completed", 1), ("b", "completed", 2), ("c", "completed", 1)]
    assert done["steps"][1]["error"] is None


def held_in_step_b(svc, make_worker, tmp_path: Path, sig: int):
    """A stepped task whose step b holds until its gate exists, its worker sent
    ``sig`` while b runs, and the lost attempt reaped; (task, worker, gate)."""
    gate = tmp_path / "gate"
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, hold={"b": str(gate)}))
    worker = make_worker()
    wait_until(lambda: step_running(svc, t.id, "b"), what="step b to run")
    os.killpg(worker.pid, sig)
    reap_when_lease_expires(svc, t.id)
    return t, worker, gate


def test_worker_killed_mid_step_resumes_there_with_its_state(svc, make_worker, tmp_path):
    t, _, gate = held_in_step_b(svc, make_worker, tmp_path, signal.SIGKILL)
    assert steps_of(svc.store.get(t.id)) == [("a", "completed", 1), ("b", "pending", 1)]
    gate.touch()
    make_worker()
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed"
    assert runs(tmp_path / "runs") == ["a 1", "b 1", "b 2", "c 2"]
    # ctx.state saved by attempt 1 after step a: attempt 2 started with it.
    assert done["result"]["state"] == {"seen": {"a": 1, "b": 2, "c": 2}}


def test_steps_and_state_survive_a_redis_restart(aof_redis, env, make_worker, tmp_path):
    svc = Service(aof_redis.url, Settings.from_env({**env, "JOBSVC_REDIS_URL": aof_redis.url}))
    gate = tmp_path / "gate"
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, hold={"b": str(gate)}))
    # A lease that outlasts the restart: the attempt goes on once Redis is back.
    make_worker(JOBSVC_REDIS_URL=aof_redis.url, JOBSVC_LEASE_S="15")
    wait_until(lambda: step_running(svc, t.id, "b"), what="step b to run")
    aof_redis.kill()
    aof_redis.start()  # same port, same data dir: the AOF is replayed
    wait_until(lambda: answering(svc), what="Redis to answer again")
    assert steps_of(svc.store.get(t.id)) == [("a", "completed", 1), ("b", "running", 1)]
    assert svc.store.load_steps(t.id)[1] == {"seen": {"a": 1}}
    gate.touch()
    done = wait_ended(svc, t.id, timeout=60)
    assert done["status"] == "completed"
    assert runs(tmp_path / "runs") == ["a 1", "b 1", "c 1"]


def test_frozen_attempt_that_wakes_cannot_record_a_step(svc, make_worker, tmp_path):
    t, frozen, gate = held_in_step_b(svc, make_worker, tmp_path, signal.SIGSTOP)
    make_worker()
    wait_until(lambda: runs(tmp_path / "runs")[-1:] == ["b 2"], what="attempt 2 to run step b")
    os.killpg(frozen.pid, signal.SIGCONT)
    gate.touch()
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed"
    assert "c 1" not in runs(tmp_path / "runs")
    assert done["steps"][1]["result"]["attempt"] == 2


def test_a_stale_token_records_no_step_and_no_state(svc, make_worker, tmp_path):
    """The store's fence itself: after a reap, the old attempt's writes are refused."""
    gate = tmp_path / "gate"
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, hold={"a": str(gate)}), retries=0)
    worker = make_worker()
    wait_until(lambda: step_running(svc, t.id, "a"), what="step a to run")
    token = svc.store.client.hget(f"jobsvc:t:{t.id}", "token")
    os.killpg(worker.pid, signal.SIGKILL)
    reap_when_lease_expires(svc, t.id)
    record = {"name": "a", "status": "completed", "attempts": 1, "startedAt": 1, "result": 1}
    assert not svc.store.step_end(t.id, token, 1, record, "{}")
    assert not svc.store.step_start(t.id, token, 2, "b", 1)
    assert not svc.store.save_state(t.id, token, '{"x": 1}')
    assert steps_of(svc.store.get(t.id)) == [("a", "failed", 1)]
    assert svc.store.load_steps(t.id)[1] == {}


def test_manual_retry_resumes_and_from_start_runs_every_step(svc, make_worker, tmp_path, env):
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, fail={"c": 2}), retries=0)
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "failed"
    svc.retry(t.id)
    assert wait_ended(svc, t.id)["status"] == "failed"
    assert runs(tmp_path / "runs") == ["a 1", "b 1", "c 1", "c 2"]
    proc = jobsvc(env, "retry", t.id, "--from-start")
    assert proc.returncode == 0, proc.stderr
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed"
    assert runs(tmp_path / "runs")[4:] == ["a 3", "b 3", "c 3"]
    assert steps_of(done) == [("a", "completed", 1), ("b", "completed", 1), ("c", "completed", 1)]


def test_http_retry_from_start_clears_steps_and_state(svc, make_worker, tmp_path, web_server):
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, fail={"c": 1}), retries=0)
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "failed"
    r = requests.post(f"{web_server}/api/v1/tasks/{t.id}/retry", json={"fromStart": True})
    assert r.status_code == 200, r.text
    done = wait_ended(svc, t.id)
    assert runs(tmp_path / "runs") == ["a 1", "b 1", "c 1", "a 2", "b 2", "c 2"]
    assert done["result"]["state"] == {"seen": {"a": 2, "b": 2, "c": 2}}


def test_a_bad_retry_body_is_a_400_naming_the_field(svc, make_worker, tmp_path, web_server):
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, fail={"a": 1}), retries=0)
    make_worker()
    assert wait_ended(svc, t.id)["status"] == "failed"
    url = f"{web_server}/api/v1/tasks/{t.id}/retry"
    for body, field in (
        ({"fromStart": "yes"}, "fromStart"),
        ({"fromStart": 1}, "fromStart"),
        ({"from_start": True}, "from_start"),
        ([True], "body"),
    ):
        r = requests.post(url, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["field"] == field
    # A JSON null is a body that is not an object, not "no body".
    r = requests.post(url, data="null", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "body", r.text
    assert svc.get(t.id).status == "failed"  # nothing changed
    assert requests.post(url, json={}).status_code == 200


def test_repeated_names_get_a_number(svc, make_worker, tmp_path):
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, steps=["x", "x", "y", "x"]))
    make_worker()
    done = wait_ended(svc, t.id)
    assert [s["name"] for s in done["steps"]] == ["x", "x#2", "y", "x#3"]
    assert svc.store.delete(t.id) and not svc.store.client.exists(keys.steps(t.id))


def test_a_run_past_its_step_timeout_is_retried_in_place(svc, make_worker, tmp_path):
    t = svc.submit(
        "prod-eu", "stepped", stepped(tmp_path, steps=["a"], slow={"a": 1}, timeout=0.3, retries=1)
    )
    make_worker()
    done = wait_ended(svc, t.id)
    assert done["status"] == "completed" and done["retryCount"] == 0
    assert steps_of(done) == [("a", "completed", 2)]
    assert "== step a: retrying" in svc.log(t.id)


def test_changed_step_order_fails_with_a_clear_error(svc, make_worker, tmp_path):
    payload = stepped(tmp_path, fail={"b": 1}, steps_by_attempt={"2": ["b", "a"]})
    t = svc.submit("prod-eu", "stepped", payload)
    make_worker()
    done = wait_ended(svc, t.id)
    assert done["status"] == "failed" and done["retryCount"] == 1  # not retried again
    assert done["error"]["reason"] == "step_mismatch"
    assert "step 1 is 'b' but an earlier attempt recorded 'a'" in done["error"]["message"]
    assert runs(tmp_path / "runs") == ["a 1", "b 1"]


STEP_EVENTS = [
    ("a", "running", 1),
    ("a", "completed", 1),
    ("b", "running", 1),
    ("b", "retrying", 1),
    ("b", "running", 2),
    ("b", "completed", 2),
]


def step_events(messages) -> list[tuple[str, str, int]]:
    data = [m["data"] for m in messages if m["type"] == "step"]
    return [(d["name"], d["status"], d["attempt"]) for d in data]


def test_step_events_reach_viewers_and_the_log(svc, make_worker, tmp_path, web_server):
    payload = stepped(tmp_path, steps=["a", "b"], fail={"b": 1}, retries=1)
    t = svc.submit("prod-eu", "stepped", payload)
    make_worker()
    wait_ended(svc, t.id)
    with requests.get(f"{web_server}/api/v1/tasks/{t.id}/events", stream=True, timeout=20) as r:
        assert step_events(m for _, m in sse_messages(r)) == STEP_EVENTS
    ws = websocket.create_connection(f"{web_server.replace('http', 'ws')}/ws/tasks/{t.id}")
    messages, code = ws_messages(ws)
    assert step_events(messages) == STEP_EVENTS and code == 1000
    log = requests.get(f"{web_server}/api/v1/tasks/{t.id}/log", timeout=10).text
    assert log.splitlines() == [f"== step {name}: {status}" for name, status, _ in STEP_EVENTS]


def test_show_lists_the_steps(svc, make_worker, tmp_path, env):
    t = svc.submit("prod-eu", "stepped", stepped(tmp_path, steps=["build", "deploy"]))
    make_worker()
    wait_ended(svc, t.id)
    proc = jobsvc(env, "show", t.id)
    assert proc.returncode == 0, proc.stderr
    assert "steps:" in proc.stdout
    assert "build" in proc.stdout and "completed attempts=1" in proc.stdout
    proc = jobsvc(env, "log", t.id)
    assert proc.stdout == svc.log(t.id)


def test_the_chaos_checker_counts_a_completed_step_run_in_a_later_attempt(tmp_path):
    """Invariant 6's checker (bench/invariants.py) on runs written as the chaos task writes them."""
    (tmp_path / "t1").write_text("build 1 r1\nmigrate 1 r2\nmigrate 2 r3\nbuild 2 r4\n")
    steps = [
        {"name": "build", "status": "completed", "result": "r1"},
        {"name": "migrate", "status": "completed", "result": "r3"},
    ]
    counts = rerun_steps([{"id": "t1", "steps": steps}, None], tmp_path)
    assert counts == {"multi-step tasks": 1, "step runs": 4, "re-run completed steps": 1}
