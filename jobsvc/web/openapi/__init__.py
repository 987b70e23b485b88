"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document of the API, built from the app.

The paths come from the app's own url_map, so a route is documented where it
is served and with the parameters its rule names; what each route takes and
answers comes from ``operations``, and every schema from the constants the
validators use (``schemas``).  apispec assembles them and resolves the named
schemas and answers into ``$ref``s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

from apispec import APISpec
from flask import Blueprint, Flask, Response, current_app, jsonify

from ...types import registry
from ...types.offers import is_builtin
from ..auth import OPEN_PATHS
from .operations import ERRORS, OPERATIONS, PATH_PARAMETERS, json_content
from .schemas import components, ref

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")
# Where the app keeps its document once built (``app.extensions``).
EXTENSION = "jobsvc.openapi"
# Methods Werkzeug adds to every rule by itself; they are not operations of the API.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
# What the document covers: the API, the health check and the metrics.  Every other
# route of the app is named in ``OUTSIDE_THE_API`` by its blueprint, with the reason.
API_PATHS = re.compile(r"/api/.*|/healthz|/metrics")
OUTSIDE_THE_API = {
    "websocket": "WebSocket endpoints are not HTTP operations: the description names them",
    "dashboard": "pages for people, in HTML",
    "static": "the pages' script and style files",
}
SECURITY_SCHEME = "bearerAuth"
DESCRIPTION = """\
jobsvc's HTTP API: per-deployment lanes of tasks, run one at a time in order.
Requests and answers are JSON (camelCase); every error is
`{{"error": {{"code", "message", "field"?}}}}` and never a 500 for bad input.

Auth: `Authorization: Bearer <token>` from `JOBSVC_API_TOKENS` (everything) or
`JOBSVC_READ_TOKENS` (GET and streams only: anything else is a 403). With no
token configured the server listens on loopback only and needs none, but
refuses a foreign `Host` (403 `bad_host`) and a write or WebSocket handshake
from a foreign `Origin` (403 `cross_origin`).

WebSocket endpoints carry the same messages as the SSE ones (resume with
`?since=`, token also as `?token=`; close codes 1000, 1001, 4404, 4429):
{websockets}.
"""


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """Built once per app: the routes and constants it reads do not change while it runs."""
    doc = current_app.extensions.get(EXTENSION)
    if doc is None:
        doc = current_app.extensions[EXTENSION] = document(current_app)
    return jsonify(doc)


def openapi_path(rule: str) -> str:
    """A Flask rule as OpenAPI writes a path: ``<name:deployment>`` -> ``{deployment}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def routes(app: Flask) -> Iterator[tuple[str, str, str, list[str]]]:
    """(method, path, endpoint, path parameter names) of every route of the app."""
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - IMPLICIT_METHODS):
            names = re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule.rule)
            yield method.lower(), openapi_path(rule.rule), rule.endpoint, names


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s routes that ``OPERATIONS`` describes."""
    spec = APISpec(
        title="jobsvc",
        version=version("jobsvc"),
        openapi_version="3.1.0",
        info={"description": DESCRIPTION.format(websockets=", ".join(websocket_paths(app)))},
    )
    for name, schema in components(builtin_types()).items():
        spec.components.schema(name, schema)
    for status, meaning in ERRORS.items():
        spec.components.response(f"Error{status}", _error_answer(status, meaning))
    spec.components.security_scheme(SECURITY_SCHEME, {"type": "http", "scheme": "bearer"})
    by_path: dict[str, dict[str, Any]] = {}
    for method, path, endpoint, names in routes(app):
        entry = OPERATIONS.get((method, path))
        if entry is not None:
            by_path.setdefault(path, {})[method] = _operation(entry, path, endpoint, names)
    for path, operations in sorted(by_path.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(entry: dict[str, Any], path: str, endpoint: str, names: list[str]) -> dict[str, Any]:
    """An entry of ``OPERATIONS`` completed from its route: id, path parameters, security."""
    operation = {**entry, "operationId": endpoint, "responses": dict(entry["responses"])}
    path_parameters = [
        {"in": "path", "name": name, "required": True, "schema": PATH_PARAMETERS[name]}
        for name in names
    ]
    operation["parameters"] = path_parameters + list(entry.get("parameters", []))
    operation["responses"]["403"] = "Error403"
    if path in OPEN_PATHS:
        operation["security"] = []
    else:
        operation["security"] = [{SECURITY_SCHEME: []}]
        operation["responses"]["401"] = "Error401"
    return operation


def _error_answer(status: int, meaning: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": meaning, "content": json_content(ref("Error"))}
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return answer


def websocket_paths(app: Flask) -> list[str]:
    return sorted(path for _, path, endpoint, _ in routes(app) if endpoint.startswith("websocket."))


def builtin_types() -> list[str]:
    """The task types every worker offers: examples of a submission's ``type``."""
    return [t.name for t in registry.types() if is_builtin(t.name)]
