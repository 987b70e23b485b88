"""What each HTTP route of the API takes and answers, one entry per route.

``OPERATIONS`` is keyed by (method, path) as the document spells them: the
Flask rule with ``<...>`` turned into ``{...}``.  Path parameters, the
operation's id (its Flask endpoint), security, and the 401/403 every
secured route can answer are added by the document builder from the app
itself (``document``); an entry says the rest.  To document a new route, add
its entry here: ``tests/test_openapi.py`` fails for any route of the app's
url_map that has none.
"""

from __future__ import annotations

from typing import Any

from ...service import (
    DEFAULT_DELIVERIES_LIMIT,
    DEFAULT_DEPLOYMENTS_LIMIT,
    DEFAULT_QUEUE_LIMIT,
    DEFAULT_TASKS_LIMIT,
    MAX_DELIVERIES_LIMIT,
    MAX_DEPLOYMENTS_LIMIT,
    MAX_QUEUE_LIMIT,
    MAX_TASKS_LIMIT,
)
from ...webhooks.model import DELIVERY_STATUSES
from .. import inputs
from .schemas import DEPLOYMENT, FILTER, STATUSES, STREAM_ID, Schema, full_match, ref

API = "/api/v1"
JSON = "application/json"
# What each error status means, for every route that can answer it.
ERRORS: dict[int, str] = {
    400: "invalid input; `field` names what to fix",
    401: "no token, or not a valid one",
    403: "a read-only token on a write; in loopback mode, a foreign Host or Origin",
    404: "no such task (`task_not_found`) or webhook delivery (`delivery_not_found`)",
    409: "the action is not valid in the task's (or delivery's) state (`invalid_state`)",
    413: "the request body is over the limit",
    415: "the request body is not `application/json`",
    422: "`unknown_type`, `preflight_failed`, `unknown_dependency` or `dependency_deadlock`",
    503: "Redis does not answer (`redis_unavailable`), or this lane's data is damaged",
}


def json_content(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def answer(description: str, schema: Schema, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": json_content(schema), **extra}


def text_answer(description: str, media_type: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


def errors(*statuses: int) -> dict[str, Any]:
    """References to the shared error answers (``components.responses``)."""
    return {str(status): f"Error{status}" for status in statuses}


def query(name: str, schema: Schema, description: str = "") -> dict[str, Any]:
    """A query parameter; empty counts as absent, as ``inputs.query_text`` reads it."""
    parameter = {"in": "query", "name": name, "schema": schema, "allowEmptyValue": True}
    return {**parameter, "description": description} if description else parameter


def limit(name: str, default: int, high: int) -> dict[str, Any]:
    """A page size, as ``inputs.query_limit(default, high, name)`` reads it."""
    return query(name, {"type": "integer", "minimum": 1, "maximum": high, "default": default})


def resume_parameters() -> list[dict[str, Any]]:
    """Where a live stream resumes (``inputs.resume_point``): the header wins."""
    return [
        query("since", STREAM_ID, "resume after this event id; `0` or none: from the start"),
        {
            "in": "header",
            "name": "Last-Event-ID",
            "schema": STREAM_ID,
            "description": "sent by an EventSource when it reconnects; wins over `since`",
        },
    ]


def task_links(*operation_ids: str) -> dict[str, Any]:
    """Links from an answer carrying ``task`` to the operations on that task."""
    return {
        op.split(".")[-1]: {
            "operationId": op,
            "parameters": {"task_id": "$response.body#/task/id"},
        }
        for op in operation_ids
    }


TASK_ACTIONS = ("tasks.get_task", "tasks.cancel", "tasks.skip", "tasks.retry", "tasks.log")


def _submitted(description: str) -> dict[str, Any]:
    location = {"schema": {"type": "string"}, "description": "`/api/v1/tasks/{id}`"}
    return answer(
        description,
        ref("Submitted"),
        headers={"Location": location},
        links=task_links(*TASK_ACTIONS),
    )


def _task_action(summary: str, *statuses: int) -> dict[str, Any]:
    return {
        "summary": summary,
        "responses": {
            "200": answer("the task after the action", ref("TaskEnvelope")),
            **errors(*statuses),
        },
    }


def _lane_action(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "responses": {"200": answer("the lane's summary", ref("Summary")), **errors(400, 413, 503)},
    }


def _event_stream(summary: str, event: str, *statuses: int) -> dict[str, Any]:
    stream = {"text/event-stream": {"schema": ref(event)}}
    return {
        "summary": summary,
        "parameters": resume_parameters(),
        "responses": {
            "200": {"description": "Server-Sent Events, one message each", "content": stream},
            **errors(*statuses),
        },
    }


OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", f"{API}/deployments/{{deployment}}/tasks"): {
        "summary": "Submit a task to a deployment's lane",
        "requestBody": {"required": True, "content": json_content(ref("Submission"))},
        "responses": {
            "201": _submitted("a new task"),
            "200": _submitted("an earlier task with the same dedupe identity"),
            **errors(400, 413, 415, 422, 503),
        },
    },
    ("get", f"{API}/tasks/{{task_id}}"): {
        "summary": "Read a task",
        "responses": {"200": answer("the task", ref("TaskEnvelope")), **errors(404, 503)},
    },
    ("get", f"{API}/tasks"): {
        "summary": "List tasks, newest first",
        "parameters": [
            query("deployment", DEPLOYMENT),
            query("status", {"enum": STATUSES}),
            query("type", FILTER),
            limit("limit", DEFAULT_TASKS_LIMIT, MAX_TASKS_LIMIT),
            query(
                "cursor",
                {"type": "string", "pattern": full_match(inputs.CURSOR_RE)},
                "the `nextCursor` of the page before",
            ),
        ],
        "responses": {"200": answer("a page of tasks", ref("TaskPage")), **errors(400, 503)},
    },
    ("post", f"{API}/tasks/{{task_id}}/cancel"): _task_action(
        "Cancel a queued task, or stop a running one", 404, 409, 413, 503
    ),
    ("post", f"{API}/tasks/{{task_id}}/skip"): _task_action(
        "Skip a waiting task", 404, 409, 413, 503
    ),
    ("post", f"{API}/tasks/{{task_id}}/retry"): {
        **_task_action("Queue a failed or canceled task again", 400, 404, 409, 413, 415, 503),
        "requestBody": {"required": False, "content": json_content(ref("RetryRequest"))},
    },
    ("get", f"{API}/tasks/{{task_id}}/log"): {
        "summary": "A task's whole output",
        "responses": {
            "200": text_answer("the output, one line per log line", "text/plain"),
            **errors(404, 503),
        },
    },
    ("get", f"{API}/tasks/{{task_id}}/events"): _event_stream(
        "A task's live events; ends with `event: end` after its terminal status",
        "TaskSSE",
        400,
        404,
        503,
    ),
    ("get", f"{API}/deployments"): {
        "summary": "Deployment summaries, by name",
        "parameters": [
            query("cursor", DEPLOYMENT, "the `nextCursor` of the page before"),
            limit("limit", DEFAULT_DEPLOYMENTS_LIMIT, MAX_DEPLOYMENTS_LIMIT),
        ],
        "responses": {
            "200": answer("a page of summaries", ref("DeploymentPage")),
            **errors(400, 503),
        },
    },
    ("get", f"{API}/deployments/{{deployment}}"): {
        "summary": "A deployment's summary and queue, in lane order",
        "parameters": [limit("queueLimit", DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT)],
        "responses": {
            "200": answer("an unknown deployment is an empty lane", ref("DeploymentDetail")),
            **errors(400, 503),
        },
    },
    ("post", f"{API}/deployments/{{deployment}}/pause"): _lane_action(
        "Pause a lane: it starts nothing new"
    ),
    ("post", f"{API}/deployments/{{deployment}}/resume"): _lane_action("Resume a lane"),
    ("get", f"{API}/stats"): {
        "summary": "Counts by status, type and priority; workers",
        "responses": {"200": answer("the figures", ref("Stats")), **errors(503)},
    },
    ("get", f"{API}/me"): {
        "summary": "The caller's scope: the dashboard shows action buttons to `full` only",
        "responses": {"200": answer("the caller", ref("Caller"))},
    },
    ("get", f"{API}/webhooks/deliveries"): {
        "summary": "Webhook deliveries, newest first",
        "parameters": [
            query("status", {"enum": list(DELIVERY_STATUSES)}),
            limit("limit", DEFAULT_DELIVERIES_LIMIT, MAX_DELIVERIES_LIMIT),
            query(
                "cursor",
                {"type": "string", "pattern": full_match(inputs.CURSOR_RE)},
                "the `nextCursor` of the page before",
            ),
        ],
        "responses": {
            "200": answer("a page of deliveries", ref("DeliveryPage")),
            **errors(400, 503),
        },
    },
    ("post", f"{API}/webhooks/deliveries/{{delivery_id}}/redeliver"): {
        "summary": "Queue a delivered or failed delivery again, under the same webhook-id",
        "responses": {
            "200": answer("the delivery, pending again", ref("DeliveryEnvelope")),
            **errors(404, 409, 413, 503),
        },
    },
    ("get", f"{API}/dashboard/events"): _event_stream(
        "Deployment summaries, live: a snapshot, then one message per change",
        "DashboardSSE",
        400,
        503,
    ),
    ("get", f"{API}/openapi.json"): {
        "summary": "This document",
        "responses": {"200": answer("OpenAPI 3.1", {"type": "object"})},
    },
    ("get", "/healthz"): {
        "summary": "200 when Redis answers",
        "responses": {"200": answer("Redis answers", ref("Health")), **errors(503)},
    },
    ("get", "/metrics"): {
        "summary": "Prometheus text exposition, read from Redis at scrape time",
        "responses": {
            "200": text_answer("Prometheus text format", "text/plain"),
            **errors(503),
        },
    },
}

# The schema of each path parameter, by the name its Flask rule gives it: a name
# outside its pattern is a 400 (``validation.deployment``); an id that is not one
# of ours names no task (``validation.task_id``), a 404.
PATH_PARAMETERS: dict[str, Schema] = {
    "deployment": ref("Deployment"),
    "task_id": ref("TaskId"),
    "delivery_id": ref("DeliveryId"),
}
