"""The JSON Schemas of the OpenAPI document, built from the validators' own constants.

Every pattern, enum, bound and default here is read from the module that
enforces it (``validation``, ``web.inputs``, ``states``, ``service``), never
written a second time: a limit changed there changes the document too.
Response schemas name every field the contract lists as required and leave
others allowed, so a client written against them keeps working when a field
is added.
"""

from __future__ import annotations

import re
from typing import Any

from ... import validation
from ...dispatch import POOL_RE
from ...service import MAX_DELIVERIES_LIMIT, MAX_QUEUE_LIMIT, MAX_TASKS_LIMIT
from ...states import ENDED, PRIORITIES, Priority, Status
from ...webhooks.config import EVENTS
from ...webhooks.model import DELIVERY_ID_RE, DELIVERY_STATUSES, LISTED_FIELDS
from .. import inputs
from ..auth import FULL, READ

Schema = dict[str, Any]

STATUSES = [s.value for s in Status]
# The states a lane's active task can be in (a summary's activeTaskStatus).
ACTIVE_STATUSES = [s.value for s in Status if s not in ENDED]
STEP_STATUSES = ["pending", "running", "completed", "failed"]
STEP_EVENT_STATUSES = ["running", "completed", "failed", "retrying"]
EVENT_TYPES = ["log", "progress", "status", "step"]


def full_match(pattern: re.Pattern[str]) -> str:
    """A Python pattern the validators apply with ``fullmatch``, as JSON Schema's
    ``pattern`` (which searches): anchored at both ends.

    The end is "no character follows", not ``$``: Python's ``$`` (as a
    validator written in Python reads the pattern) also matches before a
    trailing newline, which ``fullmatch`` refuses.
    """
    return f"^(?:{pattern.pattern})(?![\\s\\S])"


def nullable(schema: Schema) -> Schema:
    """``schema`` or null (OpenAPI 3.1 spells it as a union of types)."""
    return {"oneOf": [schema, {"type": "null"}]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def integer(low: int, high: int | None = None) -> Schema:
    schema: Schema = {"type": "integer", "minimum": low}
    if high is not None:
        schema["maximum"] = high
    return schema


TIME: Schema = {"type": "string", "format": "date-time"}
TASK_ID: Schema = {"type": "string", "pattern": full_match(validation.TASK_ID_RE)}
DEPLOYMENT: Schema = {"type": "string", "pattern": full_match(validation.DEPLOYMENT_RE)}
# A live stream's resume point, as ``validation.stream_id`` reads it.
STREAM_ID: Schema = {
    "type": "string",
    "pattern": full_match(validation.STREAM_ID_RE),
    "description": f"an event id `<ms>-<seq>` (each part at most "
    f"{validation.STREAM_ID_PART_MAX}), or `0` for the start",
}
# A query value: empty counts as absent, longer than this is a 400 (``inputs.query_text``).
FILTER: Schema = {"type": "string", "maxLength": inputs.MAX_FILTER_LEN}


def error() -> Schema:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            }
        },
    }


def _object(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def task() -> Schema:
    """The contract's Task JSON (``model.render_task``)."""
    step = _object(
        {
            "name": {"type": "string"},
            "status": {"enum": STEP_STATUSES},
            "attempts": integer(0),
            "startedAt": nullable(TIME),
            "completedAt": nullable(TIME),
            "result": {},
            "error": {"type": ["object", "null"]},
        },
        ["name", "status", "attempts", "startedAt", "completedAt"],
    )
    history = _object(
        {"status": {"enum": STATUSES}, "at": TIME, "reason": {"type": "string"}},
        ["status", "at"],
    )
    times = {name: nullable(TIME) for name in ("startedAt", "completedAt", "lastOutputAt")}
    properties: dict[str, Schema] = {
        "id": TASK_ID,
        "deployment": DEPLOYMENT,
        "type": {"type": "string"},
        "status": {"enum": STATUSES},
        "priority": {"enum": list(PRIORITIES)},
        "payload": {"type": ["object", "null"]},
        "metadata": {"type": ["object", "null"]},
        "dedupeKey": {"type": ["string", "null"]},
        "position": {"type": ["integer", "null"], "minimum": 0},
        "retryCount": integer(0),
        "maxRetries": integer(0),
        "timeoutS": integer(0),
        "cooldownS": integer(0),
        "createdAt": TIME,
        **times,
        "cooldownUntil": nullable(TIME),
        "progress": {"type": ["object", "null"]},
        "result": {},
        "error": {"type": ["object", "null"]},
        "history": {"type": ["array", "null"], "items": history},
        "pool": {"type": "string", "pattern": full_match(POOL_RE)},
        "dependsOn": {"type": "array", "items": TASK_ID},
        "waitingOn": {"type": "array", "items": TASK_ID},
        "steps": {"type": ["array", "null"], "items": step},
        "truncated": {
            "type": "array",
            "items": {"type": "string"},
            "description": "in a listing: the large fields left out (they read null)",
        },
    }
    required = [n for n in properties if n != "truncated"]
    return _object(properties, required)


def summary() -> Schema:
    """Deployment summary S (``_lib.lua``'s ``summary``)."""
    last = _object(
        {
            "id": TASK_ID,
            "type": {"type": "string"},
            "status": {"enum": STATUSES},
            "completedAt": nullable(TIME),
        },
        ["id", "type", "status", "completedAt"],
    )
    return _object(
        {
            "deployment": DEPLOYMENT,
            "activeTaskId": nullable(TASK_ID),
            "activeTaskStatus": {"enum": [*ACTIVE_STATUSES, None]},
            "queueDepth": integer(0),
            "paused": {"type": "boolean"},
            "lastTask": nullable(last),
        },
        ["deployment", "activeTaskId", "activeTaskStatus", "queueDepth", "paused", "lastTask"],
    )


def stats() -> Schema:
    counts = {"type": "object", "additionalProperties": integer(0)}
    by_status = _object({s: integer(0) for s in STATUSES}, STATUSES)
    worker = _object(
        {
            "name": {"type": "string"},
            "state": {"type": "string"},
            "queues": {"type": "array", "items": {"type": "string"}},
            "currentJobId": {"type": ["string", "null"]},
        },
        ["name", "state", "queues", "currentJobId"],
    )
    return _object(
        {
            "byStatus": by_status,
            "byType": {"type": "object", "additionalProperties": counts},
            "byPriority": {
                "type": "object",
                "propertyNames": {"enum": list(PRIORITIES)},
                "additionalProperties": counts,
            },
            "inCooldown": integer(0),
            "draining": {"type": "boolean"},
            "workers": {"type": "array", "items": worker},
        },
        ["byStatus", "byType", "byPriority", "inCooldown", "draining", "workers"],
    )


def delivery() -> Schema:
    """A webhook delivery D (``webhooks.model.render_delivery``): the contract's ten fields."""
    return _object(
        {
            "id": {"type": "string", "pattern": full_match(DELIVERY_ID_RE)},
            "event": {"enum": list(EVENTS)},
            "taskId": TASK_ID,
            "url": {"type": "string"},
            "status": {"enum": list(DELIVERY_STATUSES)},
            "attempts": integer(0),
            "lastStatusCode": {"type": ["integer", "null"]},
            "lastError": {"type": ["string", "null"]},
            "createdAt": TIME,
            "deliveredAt": nullable(TIME),
        },
        ["id", *LISTED_FIELDS],
    )


def caller(scopes: list[str]) -> Schema:
    """``GET /api/v1/me`` (``web.auth.caller``): what the dashboard needs to know of its token."""
    return _object(
        {
            "scope": {"enum": scopes},
            "tokenName": {"type": ["string", "null"]},
            "authRequired": {"type": "boolean"},
        },
        ["scope", "tokenName", "authRequired"],
    )


def task_event() -> Schema:
    """One message of a task's live stream (``live.events``), the same on SSE and WebSocket."""
    return _object(
        {
            "id": {"type": "string"},
            "type": {"enum": EVENT_TYPES},
            "at": TIME,
            "data": {
                "type": "object",
                "description": "log `{line}`; progress `{percent, message}`; status "
                "`{status, reason?}`; step `{name, status, attempt}`, status one of "
                + ", ".join(STEP_EVENT_STATUSES),
            },
        },
        ["id", "type", "at", "data"],
    )


def dashboard_message() -> Schema:
    """One message of the dashboard's live stream: a snapshot first, then changes."""
    return _object(
        {
            "type": {"enum": ["snapshot", "deployment"]},
            "deployments": {"type": "array", "items": ref("Summary")},
            "deployment": ref("Summary"),
        },
        ["type"],
    )


def sse_event(message: str) -> Schema:
    """One Server-Sent Event as it arrives (Open API 3.1 has ``schema`` describe
    each event): ``data`` is a ``message`` in JSON, or ``{}`` for the final
    ``end`` event of a task's stream."""
    return _object(
        {
            "event": {"enum": ["message", "end"]},
            "id": {"type": "string"},
            "retry": integer(0),
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"anyOf": [ref(message), {"type": "object", "maxProperties": 0}]},
            },
        }
    )


def _optional_integer(low: int, high: int, what: str) -> Schema:
    """A submission's number: null or absent means the type's default."""
    return {"type": ["integer", "null"], "minimum": low, "maximum": high, "description": what}


def submission(type_examples: list[str]) -> Schema:
    """A submit body, as ``validation.parse_submission`` reads it; its fields are
    ``SUBMIT_FIELDS`` exactly (a test holds them equal)."""
    dedupe_key = {"type": "string", "minLength": 1, "maxLength": validation.MAX_DEDUPE_KEY}
    properties: dict[str, Schema] = {
        "type": {
            "type": "string",
            "minLength": 1,
            "description": "a type a worker offers, or a built-in (else 422 `unknown_type`)",
            "examples": type_examples,
        },
        "payload": {"type": ["object", "null"], "description": "checked by the type"},
        "priority": {"enum": list(PRIORITIES), "default": Priority.MEDIUM.value},
        "dedupeKey": {**dedupe_key, "type": ["string", "null"]},
        "keyFields": {"type": ["object", "null"], "minProperties": 1},
        "cooldownS": _optional_integer(0, validation.MAX_COOLDOWN_S, "default: the type's"),
        "maxRetries": _optional_integer(0, validation.MAX_RETRIES, "default: the type's"),
        "timeoutS": _optional_integer(1, validation.MAX_TIMEOUT_S, "default: the type's"),
        "metadata": {
            "type": ["object", "null"],
            "properties": {"dedupeKey": {**dedupe_key, "type": ["string", "null"]}},
        },
        "dependsOn": {
            "type": ["array", "null"],
            "maxItems": validation.MAX_DEPENDS_ON,
            "uniqueItems": True,
            "items": TASK_ID,
        },
    }
    return {**_object(properties, ["type"]), "additionalProperties": False}


def retry_request() -> Schema:
    """A retry body (``validation.retry_from_start``): ``RETRY_FIELDS`` only."""
    properties = {"fromStart": {"type": "boolean", "default": False}}
    return {**_object(properties), "additionalProperties": False}


def components(type_examples: list[str]) -> dict[str, Schema]:
    """Every named schema of the document."""
    return {
        "Error": error(),
        "TaskId": TASK_ID,
        "Deployment": DEPLOYMENT,
        "Task": task(),
        "TaskEnvelope": _object({"task": ref("Task")}, ["task"]),
        "Submitted": _object(
            {"task": ref("Task"), "deduplicated": {"type": "boolean"}}, ["task", "deduplicated"]
        ),
        "TaskPage": _object(
            {
                "tasks": {"type": "array", "items": ref("Task"), "maxItems": MAX_TASKS_LIMIT},
                "nextCursor": {"type": ["string", "null"]},
            },
            ["tasks", "nextCursor"],
        ),
        "Summary": summary(),
        "DeploymentPage": _object(
            {
                "deployments": {"type": "array", "items": ref("Summary")},
                "nextCursor": nullable(DEPLOYMENT),
            },
            ["deployments", "nextCursor"],
        ),
        "DeploymentDetail": {
            "allOf": [
                ref("Summary"),
                _object(
                    {"queue": {"type": "array", "items": ref("Task"), "maxItems": MAX_QUEUE_LIMIT}},
                    ["queue"],
                ),
            ]
        },
        "Stats": stats(),
        "Submission": submission(type_examples),
        "RetryRequest": retry_request(),
        "TaskEvent": task_event(),
        "DashboardMessage": dashboard_message(),
        "TaskSSE": sse_event("TaskEvent"),
        "DashboardSSE": sse_event("DashboardMessage"),
        "Health": _object({"ok": {"const": True}}, ["ok"]),
        "DeliveryId": {"type": "string", "pattern": full_match(DELIVERY_ID_RE)},
        "Delivery": delivery(),
        "DeliveryEnvelope": _object({"delivery": ref("Delivery")}, ["delivery"]),
        "DeliveryPage": _object(
            {
                "deliveries": {
                    "type": "array",
                    "items": ref("Delivery"),
                    "maxItems": MAX_DELIVERIES_LIMIT,
                },
                "nextCursor": {"type": ["string", "null"]},
            },
            ["deliveries", "nextCursor"],
        ),
        "Caller": caller([FULL, READ]),
    }
