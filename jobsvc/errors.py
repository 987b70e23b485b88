"""The one exception tree of jobsvc.

Each class carries the HTTP status and the contract's error code, so the web
layer turns any of them into ``{"error": {"code", "message"}}`` with one
handler, and the CLI into a one-line message.  Control-flow signals of a
running attempt (cancel, timeout) live in ``runner`` and stay outside.
"""

from __future__ import annotations

from typing import Any


class JobsvcError(Exception):
    """Base of every error jobsvc reports to a caller."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return {"error": body}


class ConfigError(JobsvcError):
    """The process is configured wrongly; raised at start-up, not per request."""

    code = "config_error"


class InvalidInput(JobsvcError):
    status = 400
    code = "invalid_input"


class Unauthorized(JobsvcError):
    status = 401
    code = "unauthorized"


class Forbidden(JobsvcError):
    status = 403
    code = "forbidden"


class BadHost(Forbidden):
    """Loopback mode: the request's Host does not name this machine (DNS rebinding)."""

    code = "bad_host"


class CrossOrigin(Forbidden):
    """Loopback mode: a page of another origin tries to change something or open a WebSocket."""

    code = "cross_origin"


class NotFound(JobsvcError):
    status = 404
    code = "not_found"


class Conflict(JobsvcError):
    """The operation is not valid in the task's current state."""

    status = 409
    code = "invalid_state"


class BodyTooLarge(JobsvcError):
    status = 413
    code = "body_too_large"


class UnsupportedMediaType(JobsvcError):
    status = 415
    code = "not_json"


class PreflightFailed(JobsvcError):
    status = 422
    code = "preflight_failed"


class UnknownType(JobsvcError):
    """No worker offers the task type (``types.offers``): a task of it would never run."""

    status = 422
    code = "unknown_type"


class DependencyRefused(JobsvcError):
    """A submission's ``dependsOn`` names a task that does not exist
    (``unknown_dependency``) or one it could never start after
    (``dependency_deadlock``); nothing was written."""

    status = 422
    code = "unknown_dependency"


class Unavailable(JobsvcError):
    """Redis does not answer."""

    status = 503
    code = "redis_unavailable"


class Unreadable(JobsvcError):
    """Redis answers, but one lane's or task's data there is damaged (a key of
    the wrong type, a bad field): that one is refused until an operator repairs
    it, and every other lane goes on.  Not a 500: nothing failed in the request."""

    status = 503
    code = "unreadable"
