"""The chaos checker's invariant 8 (bench/webhook_invariant.py), on tasks and
requests made up here: pure logic over task JSON and what a receiver kept."""

from __future__ import annotations

import base64
import json
import time

from bench.webhook_invariant import check_webhooks, transitions
from jobsvc.webhooks.model import signature
from tests.webhook_receiver import Received
from tests.webhook_setup import SECRET

KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
T1, T2, T3, T4 = (f"2026-12-01T10:00:0{i}.000000Z" for i in range(1, 5))


def task(tid: str, *entries: tuple[str, str]) -> dict:
    history = [{"status": "queued", "at": "2026-12-01T10:00:00.000000Z"}]
    history += [{"status": s, "at": at} for s, at in entries]
    return {"id": tid, "status": entries[-1][0], "history": history}


def request(
    tid: str, seq: int, event: str, at: str, answered: int = 204, key: bytes = KEY, **task_fields
) -> Received:
    """A request as the deliverer sends it, signed with ``key``, answered ``answered``."""
    shown = {"id": tid, "status": "running" if event == "task.started" else event[5:]}
    body = json.dumps({"type": event, "timestamp": at, "data": {"task": {**shown, **task_fields}}})
    msg_id, now = f"msg_{tid}_{seq}", int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": signature(key, msg_id, now, body.encode()),
    }
    return Received(headers, body.encode(), "/hook", status=answered)


# A task retried once: started twice, then completed; and one skipped without a start.
TASKS = [
    task("aa11", ("running", T1), ("queued", T2), ("running", T3), ("completed", T4)),
    task("bb22", ("skipped", T2)),
]
ALL = [
    request("aa11", 1, "task.started", T1),
    request("aa11", 2, "task.started", T3),
    request("aa11", 3, "task.completed", T4),
    request("bb22", 4, "task.skipped", T2),
]


def counts(requests: list[Received], failed: list[dict] | None = None) -> dict:
    return check_webhooks(TASKS, requests, failed or [], SECRET)


def test_each_start_and_each_end_is_a_transition():
    assert sum(transitions(TASKS).values()) == 4
    assert ("aa11", "task.started", T3) in transitions(TASKS)


def test_every_transition_received_is_nothing_missing():
    got = counts(ALL)
    assert (got["webhook received"], got["webhook missing"], got["webhook duplicates"]) == (4, 0, 0)


def test_a_transition_never_received_is_missing():
    got = counts(ALL[:1] + ALL[2:])
    assert (got["webhook received"], got["webhook missing"]) == (3, 1)


def test_tries_answered_500_only_are_missing_unless_listed_as_failed():
    refused = [*ALL[:3], request("bb22", 4, "task.skipped", T2, answered=500)]
    assert counts(refused)["webhook missing"] == 1
    failed = [{"taskId": "bb22", "event": "task.skipped", "createdAt": T2}]
    got = counts(refused, failed)
    assert (got["webhook failed-listed"], got["webhook missing"]) == (1, 0)


def test_a_second_2xx_for_one_webhook_id_is_a_duplicate_not_a_second_delivery():
    got = counts([*ALL, request("aa11", 3, "task.completed", T4)])
    assert (got["webhook received"], got["webhook duplicates"], got["webhook missing"]) == (4, 1, 0)


def test_a_bad_signature_does_not_count():
    forged = request("bb22", 4, "task.skipped", T2, key=b"another-key-of-32-bytes-long-xyz")
    got = counts([*ALL[:3], forged])
    assert (got["webhook bad signatures"], got["webhook missing"]) == (1, 1)


def test_a_body_that_does_not_match_its_id_or_event_is_mismatched():
    wrong_id = request("bb22", 4, "task.skipped", T2)
    wrong_id.headers["webhook-id"] = "msg_aa11_4"  # re-signed below under the wrong task's id
    stamp = int(wrong_id.headers["webhook-timestamp"])
    wrong_id.headers["webhook-signature"] = signature(KEY, "msg_aa11_4", stamp, wrong_id.body)
    wrong_status = request("aa11", 3, "task.completed", T4, status="failed")
    got = counts([*ALL[:2], wrong_status, wrong_id])
    assert (got["webhook mismatched"], got["webhook missing"]) == (2, 2)


def test_tries_of_one_id_with_different_bodies_are_mismatched():
    other = request("aa11", 1, "task.started", T1, result=1)
    got = counts([*ALL, other])
    assert (got["webhook mismatched"], got["webhook missing"]) == (1, 1)


def test_a_delivery_naming_no_transition_of_an_accepted_task_is_counted():
    phantom = request("bb22", 5, "task.started", T1)
    stranger = request("cc33", 6, "task.completed", T4)
    got = counts([*ALL, phantom, stranger])
    assert got["webhook without a transition"] == 1
    assert got["webhook for tasks not accepted"] == 1
    assert got["webhook missing"] == 0
