"""The contract's invariant 8, checked from outside: every webhook-matching
transition was received by the receiver, or is listed as a failed delivery.

Used by the chaos test (bench/chaos.py), whose one subscription wants every
event of every deployment: each ``running`` entry of a task's history is a
``task.started`` transition, its terminal entry a ``task.<status>`` one.  A
delivery's body carries its transition's time (``timestamp``, the same
microsecond as the history entry's ``at``) and its task, so (task id, event,
time) ties each request to its transition, and a failed delivery's listing
(``taskId``, ``event``, ``createdAt``) the same way.

A request counts only if its signature verifies (the Standard Webhooks
reference library signs what it got; the timestamp must be within its
5 minutes of when the request came), its ``webhook-id`` names its task, every
try of one id carried the same body, and the task in it has the event's
status.  A delivery is received when the receiver answered one of its tries
2xx; each 2xx answer after the first for the same id is a duplicate, which
at least once allows.  A delivery for an accepted task that names no
transition in its history must not happen; one for a task no submitter was
answered with can (a submission whose answer was lost to a Redis restart,
sent again).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from standardwebhooks import Webhook

# The history statuses that are transitions a subscription can want, and their events.
EVENTS = {
    "running": "task.started",
    "completed": "task.completed",
    "failed": "task.failed",
    "canceled": "task.canceled",
    "skipped": "task.skipped",
}
# The task's status in the body of each event's delivery.
STATUS_OF = {event: status for status, event in EVENTS.items()}
# How far a signature's timestamp may be from the request's arrival (the library's tolerance).
TOLERANCE_S = 300

Transition = tuple[str, str, str]  # task id, event, ISO time


class Request(Protocol):
    """What the receiver kept of one request (tests/webhook_receiver.py's ``Received``)."""

    headers: dict[str, str]
    body: bytes
    at: float
    status: int | None


def transitions(tasks: Iterable[dict[str, Any] | None]) -> Counter[Transition]:
    """Every webhook-matching transition in the tasks' histories."""
    out: Counter[Transition] = Counter()
    for t in filter(None, tasks):
        for entry in t["history"]:
            if entry["status"] in EVENTS:
                out[(t["id"], EVENTS[entry["status"]], entry["at"])] += 1
    return out


def signed(webhook: Webhook, request: Request) -> bool:
    """The request's signature is the reference library's, and was fresh when it came."""
    h = request.headers
    msg_id, stamp, sigs = (
        h.get("webhook-id"),
        h.get("webhook-timestamp", ""),
        h.get("webhook-signature", ""),
    )
    if not msg_id or not stamp.isdigit() or abs(int(stamp) - request.at) > TOLERANCE_S:
        return False
    when = datetime.fromtimestamp(int(stamp), tz=timezone.utc)
    return webhook.sign(msg_id, when, request.body.decode()) in sigs.split()


def _transition(msg_id: str, tries: list[Request]) -> Transition | None:
    """The transition all tries of one delivery name, or None if they do not agree."""
    if len({r.body for r in tries}) != 1:
        return None
    body = json.loads(tries[0].body)
    task, event = body["data"]["task"], body["type"]
    if not msg_id.startswith(f"msg_{task['id']}_") or task["status"] != STATUS_OF.get(event):
        return None
    return (task["id"], event, body["timestamp"])


def check_webhooks(
    tasks: Iterable[dict[str, Any] | None],
    requests: Sequence[Request],
    failed: Iterable[dict[str, Any]],
    secret: str,
) -> dict[str, int]:
    """Invariant 8's counts; ``failed`` is the failed deliveries' listing."""
    webhook = Webhook(secret)
    expected = transitions(tasks)
    by_id: dict[str, list[Request]] = defaultdict(list)
    bad_signatures = 0
    for r in requests:
        if signed(webhook, r):
            by_id[r.headers["webhook-id"]].append(r)
        else:
            bad_signatures += 1
    accepted = {task_id for task_id, _, _ in expected}
    received: Counter[Transition] = Counter()
    mismatched = duplicates = phantom = unmatched = 0
    for msg_id, tries in by_id.items():
        key = _transition(msg_id, tries)
        answered = sum(r.status is not None and 200 <= r.status < 300 for r in tries)
        if key is None:
            mismatched += 1
        elif answered:
            duplicates += answered - 1
            if key in expected:
                received[key] += 1
            elif key[0] in accepted:
                phantom += 1
            else:
                unmatched += 1
    listed = Counter((d["taskId"], d["event"], d["createdAt"]) for d in failed)
    covered = {k: min(n, received[k]) for k, n in expected.items()}
    by_failed = {k: min(n - covered[k], listed[k]) for k, n in expected.items()}
    return {
        "webhook transitions": sum(expected.values()),
        "webhook requests": len(requests),
        "webhook received": sum(covered.values()),
        "webhook duplicates": duplicates,
        "webhook failed-listed": sum(by_failed.values()),
        "webhook missing": sum(n - covered[k] - by_failed[k] for k, n in expected.items()),
        "webhook bad signatures": bad_signatures,
        "webhook mismatched": mismatched,
        "webhook without a transition": phantom,
        "webhook for tasks not accepted": unmatched,
    }


# What must be 0 for invariant 8 to hold.
MUST_BE_ZERO = (
    "webhook missing",
    "webhook bad signatures",
    "webhook mismatched",
    "webhook without a transition",
)


def webhooks_passed(counts: dict[str, Any]) -> bool:
    return all(counts[k] == 0 for k in MUST_BE_ZERO) and counts["webhook transitions"] > 0
