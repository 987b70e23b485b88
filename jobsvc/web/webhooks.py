"""Webhook deliveries: the listing, and redelivering one.

Subscriptions come from configuration only: no route takes a URL, so no
API caller can make the deliverer call an address of their choosing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..service import DEFAULT_DELIVERIES_LIMIT, MAX_DELIVERIES_LIMIT
from .ext import get_service
from .inputs import query_cursor, query_limit, query_text

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1")


@bp.get("/webhooks/deliveries")
def list_deliveries() -> dict[str, Any]:
    """Newest first; ``nextCursor`` continues below the last delivery of this page."""
    deliveries, cursor = get_service().list_deliveries(
        status=query_text("status"),
        limit=query_limit(DEFAULT_DELIVERIES_LIMIT, MAX_DELIVERIES_LIMIT),
        cursor=query_cursor(),
    )
    return {"deliveries": deliveries, "nextCursor": None if cursor is None else str(cursor)}


@bp.post("/webhooks/deliveries/<delivery_id>/redeliver")
def redeliver(delivery_id: str) -> dict[str, Any]:
    """409 for a pending delivery: it is queued already."""
    return {"delivery": get_service().redeliver(delivery_id)}
