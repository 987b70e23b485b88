"""The OpenAPI document: valid 3.1, complete, and built from the validators' rules.

Its conformance to the running server is ``tests/test_schemathesis.py``'s;
the live streams, which no fuzzer can wait on, are checked here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from jobsvc import validation
from jobsvc.service import DEFAULT_TASKS_LIMIT, MAX_DEPLOYMENTS_LIMIT, MAX_TASKS_LIMIT
from jobsvc.settings import Settings
from jobsvc.states import PRIORITIES, Status
from jobsvc.web import create_app
from jobsvc.web.openapi import API_PATHS, OUTSIDE_THE_API
from tests.helpers import wait_until

DOC = "/api/v1/openapi.json"


@pytest.fixture
def doc(web_server: str) -> dict[str, Any]:
    r = requests.get(web_server + DOC, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    return r.json()


def app_routes() -> list[tuple[str, str, str]]:
    """(method, path as OpenAPI writes it, endpoint) of every route of the app."""
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            found.append((method.lower(), path, rule.endpoint))
    return found


def schema_validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator of one named schema of the document, its ``$ref``s resolved in it."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", **doc})


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_route_of_the_app_is_documented_or_named_outside_the_api(doc) -> None:
    missing, unexplained = [], []
    for method, path, endpoint in app_routes():
        if API_PATHS.fullmatch(path):
            if method not in doc["paths"].get(path, {}):
                missing.append(f"{method.upper()} {path}")
        elif endpoint.split(".")[0] not in OUTSIDE_THE_API:
            unexplained.append(f"{method.upper()} {path} ({endpoint})")
    assert missing == [], "routes with no entry in jobsvc/web/openapi/operations.py"
    assert unexplained == [], "routes neither in the API nor named in OUTSIDE_THE_API"


def test_every_exception_names_routes_the_app_has() -> None:
    blueprints = {endpoint.split(".")[0] for _, _, endpoint in app_routes()}
    assert set(OUTSIDE_THE_API) <= blueprints


def test_the_document_describes_only_routes_the_app_serves(doc) -> None:
    served = {(method, path) for method, path, _ in app_routes()}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    assert documented - served == set()


def test_the_websocket_routes_are_named_in_the_description(doc) -> None:
    websockets = [p for _, p, e in app_routes() if e.startswith("websocket.")]
    assert websockets
    for path in websockets:
        assert path in doc["info"]["description"]


def test_every_operation_answers_errors_in_the_contract_shape(doc) -> None:
    error = schema_validator(doc, "Error")
    error.validate({"error": {"code": "invalid_input", "message": "m", "field": "type"}})
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            codes = {int(c) for c in operation["responses"] if c.startswith(("4", "5"))}
            assert 403 in codes, f"{method} {path}"
            secured = operation["security"] != []
            assert secured == (401 in codes), f"{method} {path}"


def test_a_submission_is_described_by_the_validators_own_rules(doc) -> None:
    schemas = doc["components"]["schemas"]
    body = schemas["Submission"]
    assert set(body["properties"]) == validation.SUBMIT_FIELDS
    assert body["additionalProperties"] is False and body["required"] == ["type"]
    props = body["properties"]
    assert props["priority"]["enum"] == list(PRIORITIES)
    assert props["dependsOn"]["maxItems"] == validation.MAX_DEPENDS_ON
    assert props["dedupeKey"]["maxLength"] == validation.MAX_DEDUPE_KEY
    assert props["maxRetries"]["maximum"] == validation.MAX_RETRIES
    assert props["timeoutS"]["maximum"] == validation.MAX_TIMEOUT_S
    assert props["cooldownS"]["maximum"] == validation.MAX_COOLDOWN_S
    assert set(schemas["RetryRequest"]["properties"]) == validation.RETRY_FIELDS
    assert schemas["Task"]["properties"]["status"]["enum"] == [s.value for s in Status]


@pytest.mark.parametrize(
    "name", ["prod-eu", "a:q", "a" * 128, "a" * 129, "-x", "a/b", "a\n", "", "é", "x.y_z:1"]
)
def test_the_deployment_pattern_accepts_what_the_validator_accepts(doc, name: str) -> None:
    """JSON Schema's pattern searches: anchored, it must agree with ``fullmatch``."""
    accepts = schema_validator(doc, "Deployment").is_valid(name)
    assert accepts == bool(validation.DEPLOYMENT_RE.fullmatch(name))


def test_the_listing_limits_are_the_services(doc) -> None:
    def param(path: str, name: str) -> dict[str, Any]:
        return next(p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name)

    limit = param("/api/v1/tasks", "limit")["schema"]
    assert (limit["maximum"], limit["default"]) == (MAX_TASKS_LIMIT, DEFAULT_TASKS_LIMIT)
    assert param("/api/v1/deployments", "limit")["schema"]["maximum"] == MAX_DEPLOYMENTS_LIMIT


def sse_events(response: requests.Response, count: int | None = None) -> list[dict[str, str]]:
    """Server-Sent Events as schemathesis reads them: fields of each blank-line-ended block."""
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    for line in response.iter_lines(decode_unicode=True):
        if line:
            name, _, value = line.partition(": ")
            if name:  # a line starting with ':' is a comment
                fields[name] = value
            continue
        if "data" in fields:
            events.append({"event": "message", **fields})
            if len(events) == count:
                break
        fields = {}
    return events


def test_a_task_stream_is_what_the_document_says(web_server, doc, make_worker) -> None:
    make_worker()
    body = {"type": "echo", "payload": {"lines": ["one", "two"]}}
    r = requests.post(f"{web_server}/api/v1/deployments/d/tasks", json=body, timeout=10)
    task_id = r.json()["task"]["id"]
    url = f"{web_server}/api/v1/tasks/{task_id}"
    wait_until(lambda: requests.get(url, timeout=10).json()["task"]["completedAt"], 30, "end")
    with requests.get(url + "/events", stream=True, timeout=30) as stream:
        events = sse_events(stream)
    assert [e["event"] for e in events][-1] == "end" and len(events) >= 4
    sse, message = schema_validator(doc, "TaskSSE"), schema_validator(doc, "TaskEvent")
    for event in events:
        sse.validate(event)
        if event["event"] == "message":
            message.validate(json.loads(event["data"]))


def test_the_dashboard_stream_is_what_the_document_says(web_server, doc) -> None:
    with requests.get(f"{web_server}/api/v1/dashboard/events", stream=True, timeout=30) as stream:
        (event,) = sse_events(stream, count=1)
    schema_validator(doc, "DashboardSSE").validate(event)
    schema_validator(doc, "DashboardMessage").validate(json.loads(event["data"]))


STREAMS = {
    "/api/v1/tasks/{task_id}/events": "/api/v1/tasks/0123456789abcdef/events",
    "/api/v1/dashboard/events": "/api/v1/dashboard/events",
}


@pytest.mark.parametrize("path", sorted(STREAMS))
@pytest.mark.parametrize(
    ("name", "value"), [("since", "abc"), ("since", "1-2-3"), ("Last-Event-ID", "-1")]
)
def test_a_stream_refuses_a_bad_resume_point_as_documented(
    web_server, doc, path: str, name: str, value: str
) -> None:
    """The value is outside the parameter's documented schema, and the answer is
    the documented 400 naming it, before any stream starts."""
    operation = doc["paths"][path]["get"]
    param = next(p for p in operation["parameters"] if p["name"] == name)
    assert not Draft202012Validator({**param["schema"], **doc}).is_valid(value)
    params = {"since": value} if name == "since" else {}
    headers = {} if name == "since" else {name: value}
    r = requests.get(web_server + STREAMS[path], params=params, headers=headers, timeout=10)
    assert r.status_code == 400 and "400" in operation["responses"]
    schema_validator(doc, "Error").validate(r.json())
    assert r.json()["error"]["field"] == name
