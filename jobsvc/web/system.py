"""The service as a whole: its health and its figures."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from .auth import caller
from .ext import get_service

bp = Blueprint("system", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, Any]:
    """200 only when Redis answers: a load balancer then sends traffic elsewhere.

    A Redis that does not answer raises here and the error handler makes it a 503.
    """
    get_service().ping()
    return {"ok": True}


@bp.get("/api/v1/stats")
def stats() -> dict[str, Any]:
    """Counts by status, type and priority; tasks in cooldown; RQ workers."""
    return get_service().stats()


@bp.get("/api/v1/me")
def me() -> dict[str, Any]:
    """The caller's scope: the dashboard shows action buttons to ``full`` only.

    Answers 401 like every other route when tokens are required and none (or
    a wrong one) was given: the page then asks for a token.
    """
    return caller()
