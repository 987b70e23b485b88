"""The one place where an exception becomes the contract's JSON error.

Every handler turns what it caught into a ``JobsvcError`` and answers with
``error_response``, so each error a client sees has the same shape:
``{"error": {"code": snake_case, "message": sentence[, "field": name]}}``.
"""

from __future__ import annotations

import re

import redis
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import JobsvcError, Unavailable
from .inputs import body_too_large

# Codes of the HTTP errors Werkzeug raises itself; others are named from the status text.
HTTP_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "not_json",
}
# Redis failures that mean "not reachable now", not a bug: the client may retry.
REDIS_DOWN = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
)


class HttpError(JobsvcError):
    """A Werkzeug HTTP error, carried through the same path as ours."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message, code=code)
        self.status = status


def init_app(app: Flask) -> None:
    app.register_error_handler(JobsvcError, error_response)
    app.register_error_handler(HTTPException, _http_error)
    for exc in REDIS_DOWN:
        app.register_error_handler(exc, _redis_down)
    app.register_error_handler(Exception, _internal_error)


def error_response(err: JobsvcError) -> Response:
    response = jsonify(err.to_json())
    response.status_code = err.status
    if err.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="jobsvc"'
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = HTTP_CODES.get(status) or re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower())
    response = error_response(HttpError(status, code, _http_message(exc, status)))
    for name, value in exc.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def _http_message(exc: HTTPException, status: int) -> str:
    if status == 404:
        return f"no such endpoint: {request.method} {request.path}"
    if status == 405:
        return f"{request.method} is not allowed on {request.path}"
    if status == 413:
        return body_too_large().message
    return exc.description or exc.name


def _redis_down(exc: Exception) -> Response:
    current_app.logger.warning("redis unavailable on %s %s: %s", request.method, request.path, exc)
    return error_response(Unavailable("Redis is not reachable; try again shortly"))


def _internal_error(exc: Exception) -> Response:
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(JobsvcError("internal error; the server log has the details"))
