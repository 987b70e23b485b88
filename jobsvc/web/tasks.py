"""Tasks: submit, read, list, act on one, read its output.

Views only parse the request and shape the answer; the Service validates a
submission and the store's Lua scripts decide every state change (a 409
comes from there as ``Conflict``).  Action bodies are optional; cancel and
skip ignore theirs (the path says everything), a retry's may say
``{"fromStart": true}`` and is checked.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, url_for

from .. import validation
from ..service import DEFAULT_TASKS_LIMIT, MAX_TASKS_LIMIT
from .ext import get_service
from .inputs import json_body, optional_json_body, query_cursor, query_limit, query_text

bp = Blueprint("tasks", __name__, url_prefix="/api/v1")


@bp.post("/deployments/<name:deployment>/tasks")
def submit(deployment: str) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """201 for a new task; 200 with the earlier task when its dedupe identity holds."""
    validation.deployment(deployment)
    task, deduplicated = get_service().submit_body(deployment, json_body())
    location = url_for("tasks.get_task", task_id=task["id"])
    return (
        {"task": task, "deduplicated": deduplicated},
        200 if deduplicated else 201,
        {"Location": location},
    )


@bp.get("/tasks/<task_id>")
def get_task(task_id: str) -> dict[str, Any]:
    return {"task": get_service().get(task_id).data}


@bp.get("/tasks")
def list_tasks() -> dict[str, Any]:
    """Newest first; ``nextCursor`` continues below the last task of this page."""
    tasks, cursor = get_service().list_tasks(
        deployment=query_text("deployment"),
        status=query_text("status"),
        type_=query_text("type"),
        limit=query_limit(DEFAULT_TASKS_LIMIT, MAX_TASKS_LIMIT),
        cursor=query_cursor(),
    )
    return {"tasks": tasks, "nextCursor": None if cursor is None else str(cursor)}


@bp.post("/tasks/<task_id>/cancel")
def cancel(task_id: str) -> dict[str, Any]:
    """A running task is stopped first; the answer waits for it up to the cancel wait."""
    return {"task": get_service().cancel(task_id).data}


@bp.post("/tasks/<task_id>/skip")
def skip(task_id: str) -> dict[str, Any]:
    return {"task": get_service().skip(task_id).data}


@bp.post("/tasks/<task_id>/retry")
def retry(task_id: str) -> dict[str, Any]:
    """Resumes after the task's completed steps; ``{"fromStart": true}`` runs them all again."""
    from_start = validation.retry_from_start(optional_json_body())
    return {"task": get_service().retry(task_id, from_start).data}


@bp.get("/tasks/<task_id>/log")
def log(task_id: str) -> Response:
    text = get_service().log(task_id)
    return Response(text, mimetype="text/plain")
