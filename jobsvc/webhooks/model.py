"""A delivery as the contract shows it (D), and the signed body it sends.

The body is rendered from the task snapshot the transition stored with the
delivery, with the project's Task JSON code, so it is the same bytes on
every try: a retry or a redelivery sends the same body under the same
``webhook-id``; only ``webhook-timestamp`` and its signature change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

from ..errors import InvalidInput, NotFound
from ..model import INT_FIELDS, TIME_FIELDS, iso, render_task
from ..states import ENDED

# The task fields a delivery keeps (what render_task reads from a task hash);
# baked into every script as CFG.snapshot_fields (scripts/__init__.py).
SNAPSHOT_FIELDS = (
    "deployment",
    "type",
    "status",
    "priority",
    "pool",
    "payload",
    "metadata",
    "dedupeKey",
    "dependsOn",
    "progress",
    "result",
    "error",
    *INT_FIELDS,
    *TIME_FIELDS,
)
DELIVERY_STATUSES = ("pending", "delivered", "failed")
# The statuses a delivery ends in: what retention deletes and /metrics counts.
ENDED_DELIVERY_STATUSES = DELIVERY_STATUSES[1:]
# A delivery's id (its webhook-id): ``msg_<task id>_<its seq>``, made by _lib.lua's outbox.
DELIVERY_ID_RE = re.compile(r"msg_[0-9a-f]{16,32}_[0-9]{1,18}")
# What a listing reads of each delivery hash (D's fields, the snapshot excluded).
LISTED_FIELDS = (
    "event",
    "taskId",
    "url",
    "status",
    "attempts",
    "lastStatusCode",
    "lastError",
    "createdAt",
    "deliveredAt",
)


def render_delivery(delivery_id: str, h: dict[str, str | None]) -> dict[str, Any]:
    """The contract's D: exactly its ten fields."""
    code = h.get("lastStatusCode")
    return {
        "id": delivery_id,
        "event": h["event"],
        "taskId": h["taskId"],
        "url": h["url"],
        "status": h["status"],
        "attempts": int(h.get("attempts") or 0),
        "lastStatusCode": int(code) if code else None,
        "lastError": h.get("lastError") or None,
        "createdAt": iso(h["createdAt"]),
        "deliveredAt": iso(h.get("deliveredAt")),
    }


def snapshot_task(snapshot: str) -> dict[str, Any]:
    """The Task JSON (without ``history``) of a stored snapshot."""
    data = json.loads(snapshot)
    fields: dict[str, str] = data["fields"]
    position = -1 if fields["status"] in ENDED else 0
    task = render_task(fields, [], position, (), data.get("steps") or [])
    del task["history"]
    return task


def render_body(event: str, created_at_us: str, snapshot: str) -> bytes:
    """``{"type", "timestamp", "data": {"task": T}}``: the same bytes every time."""
    body = {
        "type": event,
        "timestamp": iso(created_at_us),
        "data": {"task": snapshot_task(snapshot)},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def delivery_not_found(value: Any) -> NotFound:
    """The one answer for a delivery id that names nothing (malformed, unknown, deleted)."""
    return NotFound(f"no webhook delivery {str(value)[:100]!r}", code="delivery_not_found")


def delivery_id(value: Any) -> str:
    """Ids are generated: anything else names no delivery (404), nor another key."""
    if not isinstance(value, str) or not DELIVERY_ID_RE.fullmatch(value):
        raise delivery_not_found(value)
    return value


def delivery_status(value: Any) -> str:
    if value not in DELIVERY_STATUSES:
        allowed = ", ".join(DELIVERY_STATUSES)
        raise InvalidInput(f"status must be one of {allowed}", field="status")
    return str(value)
