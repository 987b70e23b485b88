"""Deployments (lanes): list their summaries, read one with its queue, pause, resume.

A lane exists as soon as it is named: an unknown deployment is an empty,
running lane, so a portal can show or pause it before its first task.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from .. import validation
from ..errors import InvalidInput
from ..service import (
    DEFAULT_DEPLOYMENTS_LIMIT,
    DEFAULT_QUEUE_LIMIT,
    MAX_DEPLOYMENTS_LIMIT,
    MAX_QUEUE_LIMIT,
)
from .ext import get_service
from .inputs import query_limit, query_text

bp = Blueprint("deployments", __name__, url_prefix="/api/v1")


@bp.get("/deployments")
def list_deployments() -> dict[str, Any]:
    """By name; ``nextCursor`` is the last name of this page."""
    cursor = query_text("cursor")
    if cursor is not None and not validation.DEPLOYMENT_RE.fullmatch(cursor):
        raise InvalidInput(
            "cursor must be a nextCursor returned by an earlier page", field="cursor"
        )
    limit = query_limit(DEFAULT_DEPLOYMENTS_LIMIT, MAX_DEPLOYMENTS_LIMIT)
    summaries, next_cursor = get_service().deployments(cursor, limit)
    return {"deployments": summaries, "nextCursor": next_cursor}


@bp.get("/deployments/<name:deployment>")
def get_deployment(deployment: str) -> dict[str, Any]:
    """Summary S plus ``queue``: the active task, then those behind it in lane
    order, ``queueLimit`` at most."""
    return get_service().deployment(
        deployment, query_limit(DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT, "queueLimit")
    )


@bp.post("/deployments/<name:deployment>/pause")
def pause(deployment: str) -> dict[str, Any]:
    """The lane starts nothing new; a running task goes on."""
    return get_service().pause(deployment)


@bp.post("/deployments/<name:deployment>/resume")
def resume(deployment: str) -> dict[str, Any]:
    return get_service().resume(deployment)
