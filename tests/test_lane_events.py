"""A lane's tasks share one event stream, and each task still reads as a stream of its own.

Every event names its task; viewers of a task (SSE, WebSocket, the Python
API) see its events only, resume without gap or repeat, and a ``since``
after the task's last event is refused even when the lane went on.  The
stream outlives a running task's quiet spells and expires once nothing runs.
"""

from __future__ import annotations

import json

import requests
import websocket

from jobsvc import keys
from tests.helpers import wait_ended, wait_until

LINES = 2000


def sse_events(base: str, task_id: str, **params: str) -> list[dict]:
    """A task's SSE messages up to ``event: end`` (or a refusal's JSON error)."""
    url = f"{base}/api/v1/tasks/{task_id}/events"
    out, data = [], []
    with requests.get(url, params=params, stream=True, timeout=30) as r:
        if r.status_code != 200:
            return [r.json()]
        for line in r.iter_lines(decode_unicode=True):
            if line == "event: end":
                return out
            if line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                out.append(json.loads("".join(data)))
                data = []
    raise AssertionError("the stream ended without `event: end`")


def ws_events(base: str, task_id: str) -> list[dict]:
    ws = websocket.create_connection(f"{base.replace('http', 'ws')}/ws/tasks/{task_id}", timeout=30)
    out = []
    while True:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            assert data[:2] == (1000).to_bytes(2, "big")
            return out
        out.append(json.loads(data))


def lines(events: list[dict]) -> list[str]:
    return [e["data"]["line"] for e in events if e["type"] == "log"]


def statuses(events: list[dict]) -> list[str]:
    return [e["data"]["status"] for e in events if e["type"] == "status"]


def test_each_task_of_a_lane_reads_as_its_own_stream(svc, make_worker, web_server):
    first = svc.submit("prod-eu", "echo", {"lines": [f"a{i}" for i in range(LINES)]})
    second = svc.submit("prod-eu", "echo", {"lines": ["b0", "b1"]})
    skipped = svc.submit("prod-eu", "noop")
    svc.skip(skipped.id)
    make_worker()
    wait_ended(svc, second.id)
    client = svc.store.client
    assert client.keys(keys.PREFIX + "events:*") == [keys.lane_events("prod-eu")]
    for read in (
        lambda t: list(svc.events(t)),
        lambda t: sse_events(web_server, t),
        lambda t: ws_events(web_server, t),
    ):
        one, two, three = read(first.id), read(second.id), read(skipped.id)
        assert lines(one) == [f"a{i}" for i in range(LINES)]
        assert statuses(one) == ["running", "completed"]
        assert (lines(two), statuses(two)) == (["b0", "b1"], ["running", "completed"])
        assert (lines(three), statuses(three)) == ([], ["skipped"])


def test_a_waiting_tasks_viewer_gets_its_events_only(svc, make_worker, web_server):
    chatty = svc.submit("prod-eu", "echo", {"lines": [f"x{i}" for i in range(LINES)]})
    quiet = svc.submit("prod-eu", "noop")
    with requests.get(f"{web_server}/api/v1/tasks/{quiet.id}/events", stream=True, timeout=30) as r:
        make_worker()  # the chatty task runs while this viewer waits
        frames = []
        for line in r.iter_lines(decode_unicode=True):
            if line == "event: end":
                break
            if line.startswith("data: "):
                frames.append(json.loads(line[6:]))
    assert statuses(frames) == ["running", "completed"] and lines(frames) == []
    assert wait_ended(svc, chatty.id)["status"] == "completed"


def test_resume_is_per_task_and_refuses_ids_past_the_tasks_end(svc, make_worker, web_server):
    first = svc.submit("prod-eu", "echo", {"lines": ["a", "b", "c"]})
    second = svc.submit("prod-eu", "echo", {"lines": ["d"]})
    make_worker()
    wait_ended(svc, second.id)
    every = sse_events(web_server, first.id)
    rest = sse_events(web_server, first.id, since=every[1]["id"])
    assert [e["id"] for e in rest] == [e["id"] for e in every[2:]]
    # The second task's events come after the first's end: out of the first's range...
    later = sse_events(web_server, second.id)[0]["id"]
    [refusal] = sse_events(web_server, first.id, since=later)
    assert refusal["error"]["field"] == "since"
    # ... while an id from before the second task's start replays it from its start.
    assert sse_events(web_server, second.id, since=every[1]["id"]) == sse_events(
        web_server, second.id
    )


def test_the_lane_stream_expires_only_when_nothing_runs(svc, make_worker, tmp_path):
    gate = tmp_path / "go"
    done = svc.submit("prod-eu", "noop")
    make_worker()
    wait_ended(svc, done.id)
    stream = keys.lane_events("prod-eu")
    assert svc.store.client.ttl(stream) > 0  # nothing runs: ended tasks' events expire
    running = svc.submit("prod-eu", "wait_file", {"path": str(gate)})
    wait_until(lambda: svc.get(running.id).status == "running", what="task to run")
    assert svc.store.client.ttl(stream) == -1  # persisted while a task runs
    waiting = svc.submit("prod-eu", "noop")
    svc.skip(waiting.id)  # a waiting task's end leaves the running one's events be
    assert svc.store.client.ttl(stream) == -1
    gate.touch()
    wait_ended(svc, running.id)
    assert svc.store.client.ttl(stream) > 0


def test_a_manually_retried_task_reads_through_to_its_last_attempt(svc, make_worker, web_server):
    """The first attempt's terminal status is not the end of a replay once the task
    was retried: every viewer reads on to the end of the latest attempt."""
    make_worker()
    task = svc.submit("prod-eu", "fail", {"times": 1})
    assert wait_ended(svc, task.id)["status"] == "failed"
    svc.retry(task.id)
    assert wait_ended(svc, task.id)["status"] == "completed"
    for read in (
        lambda t: list(svc.events(t)),
        lambda t: sse_events(web_server, t),
        lambda t: ws_events(web_server, t),
    ):
        events = read(task.id)
        assert statuses(events) == ["running", "failed", "queued", "running", "completed"]
        assert lines(events) == ["-- attempt 2 (retry requested)"]
