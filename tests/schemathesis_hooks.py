"""schemathesis' hooks for ``tests/test_schemathesis.py`` (``SCHEMATHESIS_HOOKS``).

schemathesis' own ``positive_data_acceptance`` fails any 400 or 422 to a
request the document calls valid.  A few refusals depend on what no schema can
know, and the contract asks for them; this check allows exactly those and fails
every other refusal of valid data, as the built-in would:

- a submission's ``payload`` is checked by its task type (400, ``field``
  ``payload...``); its ``type`` must be one a worker offers, its ``dependsOn``
  tasks that exist, its preflight must pass (422);
- a live stream's ``since`` / ``Last-Event-ID`` must not be after the
  stream's last event (400 naming the parameter).
"""

from __future__ import annotations

from typing import Any

import schemathesis

SUBMIT = "POST /api/v1/deployments/{deployment}/tasks"
# operation -> status -> the ``error.field`` prefixes such a refusal may name (None: any).
SEMANTIC_REFUSALS: dict[str, dict[int, tuple[str, ...] | None]] = {
    SUBMIT: {400: ("payload",), 422: None},
    "GET /api/v1/tasks/{task_id}/events": {400: ("since", "Last-Event-ID")},
    "GET /api/v1/dashboard/events": {400: ("since", "Last-Event-ID")},
}
# What valid data may get besides a 2xx: as schemathesis' built-in check, 5xx
# aside (``not_a_server_error`` fails those).
NOT_A_REFUSAL = {401, 403, 404, 409, 429}


def _field(response: Any) -> str:
    try:
        return str(response.json()["error"].get("field", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


@schemathesis.check
def valid_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """Valid data is accepted, or refused only for a reason its schema cannot express."""
    meta = case.meta
    status = response.status_code
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if status < 400 or status in NOT_A_REFUSAL or status >= 500:
        return None
    allowed = SEMANTIC_REFUSALS.get(case.operation.label, {})
    if status in allowed:
        fields = allowed[status]
        if fields is None or _field(response).startswith(fields):
            return None
    raise AssertionError(f"valid data refused with {status}: {response.text[:300]}")
