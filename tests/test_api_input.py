"""Bad input on every endpoint: a JSON error that names the field, never a 500,
and nothing written to Redis for a refused submission."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import requests

from tests.api_client import Api, assert_error, task_count

SUBMIT = "/deployments/prod-eu/tasks"
MISSING_ID = "0123456789abcdef"
BAD_TASK_IDS = ["nope", "0123", "0123456789ABCDEF", "0123456789abcdeg", "x" * 200, "é" * 16]
BAD_DEPLOYMENTS = [
    "a*b",
    "{x}",
    "a b",
    "x" * 129,
    "dé",
    "prod\u2013eu",
    "",
    "-lead",
    ".x",
    "_x",
    "a/b",
]
# field -> values of the wrong type or out of range, for a `noop` submission.
BAD_FIELDS = {
    "type": [1, True, "", [], {}],
    "payload": ["x", 1, True, [], [1]],
    "priority": ["urgent", "HIGH", 1, True, [], {}],
    "dedupeKey": [1, True, "", "k" * 257, [], {}],
    "keyFields": ["x", 1, True, [], {}],
    "cooldownS": ["10", 1.5, True, False, -1, 10**12, [], {}],
    "maxRetries": ["3", 1.5, True, False, -1, 101, [], {}],
    "timeoutS": ["60", 0, 2.5, True, False, -5, 10**9, [], {}],
    "metadata": ["x", 1, True, [], [{}]],
}
BAD_SUBMISSIONS = [(name, value) for name, values in BAD_FIELDS.items() for value in values]


@pytest.fixture
def api(web_server: str) -> Api:
    return Api(web_server)


def post_raw(api: Api, path: str, data: bytes, content_type: str | None = "application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return api.post(path, data=data, headers=headers)


# -- submission fields ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"), BAD_SUBMISSIONS, ids=[f"{n}={v!r}"[:40] for n, v in BAD_SUBMISSIONS]
)
def test_wrong_submit_field_is_refused_by_name(
    api: Api, redis_url: str, name: str, value: object
) -> None:
    body = {"type": "noop", name: value}
    assert_error(api.post(SUBMIT, json=body), 400, field=name)
    assert task_count(redis_url) == 0


def test_a_number_with_no_fraction_is_an_integer(api: Api) -> None:
    """JSON has one number type, and JSON Schema (so the OpenAPI document) counts
    2.0 as an integer: it is read as 2, not refused."""
    r = api.post(SUBMIT, json={"type": "noop", "maxRetries": 2.0, "timeoutS": 60.0})
    assert r.status_code == 201, r.text
    task = r.json()["task"]
    assert (task["maxRetries"], task["timeoutS"]) == (2, 60)
    assert '"maxRetries":2,' in r.text.replace(" ", "")


def test_missing_type_is_refused(api: Api, redis_url: str) -> None:
    assert_error(api.post(SUBMIT, json={"payload": {}}), 400, "invalid_input", "type")
    assert task_count(redis_url) == 0


def test_unknown_type_is_refused(api: Api, redis_url: str) -> None:
    error = assert_error(api.post(SUBMIT, json={"type": "rm-rf"}), 422, "unknown_type", "type")
    assert "noop" in error["message"]
    assert task_count(redis_url) == 0


def test_unknown_field_is_refused(api: Api, redis_url: str) -> None:
    r = api.post(SUBMIT, json={"type": "noop", "callable": "os.system"})
    assert_error(r, 400, "unknown_field", "callable")
    assert task_count(redis_url) == 0


def test_metadata_dedupe_key_of_wrong_type_is_refused(api: Api, redis_url: str) -> None:
    r = api.post(SUBMIT, json={"type": "noop", "metadata": {"dedupeKey": 7}})
    assert_error(r, 400, field="metadata.dedupeKey")
    assert task_count(redis_url) == 0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"metadata": {"dedupeKey": "k" * 257}}, "metadata.dedupeKey"),
        ({"keyFields": {}}, "keyFields"),
    ],
)
def test_a_dedupe_spelling_that_does_not_count_is_still_checked(
    api: Api, redis_url: str, extra: dict, field: str
) -> None:
    """dedupeKey decides, yet a bad metadata.dedupeKey or keyFields beside it is a
    400: what a body may hold does not depend on its other fields."""
    r = api.post(SUBMIT, json={"type": "noop", "dedupeKey": "k", **extra})
    assert_error(r, 400, field=field)
    assert task_count(redis_url) == 0


@pytest.mark.parametrize("payload", [{"seconds": "x"}, {"seconds": True}, {"seconds": -1}])
def test_payload_that_does_not_fit_its_type_is_refused(
    api: Api, redis_url: str, payload: dict
) -> None:
    r = api.post(SUBMIT, json={"type": "sleep", "payload": payload})
    assert_error(r, 400, field="payload")
    assert task_count(redis_url) == 0


def test_failed_preflight_answers_422(api: Api, redis_url: str) -> None:
    r = api.post(SUBMIT, json={"type": "guarded", "payload": {}})
    assert_error(r, 422, "preflight_failed")
    assert task_count(redis_url) == 0
    assert api.post(SUBMIT, json={"type": "guarded", "payload": {"ok": 1}}).status_code == 201


# -- deployment names ------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_DEPLOYMENTS, ids=[repr(n)[:20] for n in BAD_DEPLOYMENTS])
def test_invalid_deployment_name_is_refused_everywhere(api: Api, redis_url: str, name: str) -> None:
    path = f"/deployments/{quote(name, safe='')}"
    refused = [
        api.post(path + "/tasks", json={"type": "noop"}),
        api.get(path),
        api.post(path + "/pause"),
        api.post(path + "/resume"),
    ]
    for r in refused:
        if name == "a/b":  # a slash makes it another path, unknown to the API
            assert_error(r, 404, "not_found")
        else:
            assert_error(r, 400, "invalid_deployment", "deployment")
    if name:
        r = api.get("/tasks", params={"deployment": name})
        assert_error(r, 400, "invalid_deployment", "deployment")
    assert task_count(redis_url) == 0


def test_longest_valid_deployment_name_is_accepted(api: Api) -> None:
    name = "a" + "b.c:d-e_" * 15 + "x" * 7
    assert len(name) == 128
    assert api.submit(name)["deployment"] == name


# -- the body as a whole ---------------------------------------------------------------


def test_body_over_the_limit_answers_413(api: Api, redis_url: str) -> None:
    body = {"type": "noop", "payload": {"blob": "x" * (300 * 1024)}}
    assert_error(api.post(SUBMIT, json=body), 413, "body_too_large")
    assert task_count(redis_url) == 0


def test_body_over_the_limit_answers_413_where_bodies_are_ignored(api: Api) -> None:
    task = api.submit("prod-eu")
    blob = b"x" * (300 * 1024)
    assert_error(api.post(f"/tasks/{task['id']}/cancel", data=blob), 413, "body_too_large")
    assert_error(api.post("/deployments/prod-eu/pause", data=blob), 413, "body_too_large")
    assert api.task(task["id"])["status"] == "queued"


def test_chunked_body_over_the_limit_answers_413(api: Api, redis_url: str) -> None:
    chunks = (b" " * 65536 for _ in range(8))  # no Content-Length: sent chunked
    r = api.post(SUBMIT, data=chunks, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "body_too_large")
    assert task_count(redis_url) == 0


def test_body_just_under_the_limit_is_accepted(api: Api) -> None:
    blob = "x" * (255 * 1024)
    assert api.submit("prod-eu", payload={"blob": blob})["payload"]["blob"] == blob


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
def test_body_not_declared_json_answers_415(
    api: Api, redis_url: str, content_type: str | None
) -> None:
    r = post_raw(api, SUBMIT, b'{"type": "noop"}', content_type)
    assert_error(r, 415, "not_json")
    assert task_count(redis_url) == 0


def test_json_with_charset_is_accepted(api: Api) -> None:
    r = post_raw(api, SUBMIT, b'{"type": "noop"}', "application/json; charset=utf-8")
    assert r.status_code == 201, r.text


MALFORMED = [
    b"",
    b"{",
    b"{'type': 'noop'}",
    b'{"type": "noop",}',
    b"\xff\xfe{",
    b'{"type": "noop", "payload": {"x": NaN}}',
    b'{"type": "noop", "payload": {"x": Infinity}}',
    b'{"type": "noop", "payload": {"x": 1e999}}',
    b'{"type": "noop", "payload": {"x": -1e999}}',
    b'{"type": "noop", "payload": {"x": ' + b"9" * 5000 + b"}}",
    b'{"type": "noop", "payload": {"x": "\\ud800"}}',
    b'{"type": "noop", "dedupeKey": "\\udfff"}',
    b'{"type": "noop", "payload": ' + b"[" * 100 + b"]" * 100 + b"}",
    b"[" * 100_000,
    b'{"type": "noop"} trailing',
]


@pytest.mark.parametrize("raw", MALFORMED, ids=[repr(m[:30]) for m in MALFORMED])
def test_malformed_json_answers_400(api: Api, redis_url: str, raw: bytes) -> None:
    assert_error(post_raw(api, SUBMIT, raw), 400, "invalid_json", "body")
    assert task_count(redis_url) == 0


DEEP = 60  # objects around the duplicate, inside the nesting limit
DUPLICATE_KEYS = [
    (b'{"type": "noop", "type": "fail"}', "type"),
    (b'{"type": "noop", "typ\\u0065": "fail"}', "type"),  # the same key once decoded
    (b'{"type": "noop", "payload": {"a": 1, "b": 2, "a": 1}}', "a"),
    (b'{"type": "noop", "metadata": {"dedupeKey": "x", "dedupeKey": "y"}}', "dedupeKey"),
    (b'{"type": "noop", "payload": {"list": [1, {"k": null, "k": null}]}}', "k"),
    (
        b'{"type": "noop", "payload": '
        + b'{"n": ' * DEEP
        + b'{"d": 1, "d": 2}'
        + b"}" * DEEP
        + b"}",
        "d",
    ),
]


@pytest.mark.parametrize(
    ("raw", "key"), DUPLICATE_KEYS, ids=[key + str(i) for i, (_, key) in enumerate(DUPLICATE_KEYS)]
)
def test_duplicate_object_key_is_refused_by_name(
    api: Api, redis_url: str, raw: bytes, key: str
) -> None:
    error = assert_error(post_raw(api, SUBMIT, raw), 400, "invalid_json", "body")
    assert f"duplicate key {key!r}" in error["message"], error
    assert task_count(redis_url) == 0


def test_equal_keys_in_different_objects_are_accepted(api: Api) -> None:
    payload = {"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 3}, {"x": 4}]}
    assert api.submit("prod-eu", payload=payload, metadata={"x": 5})["payload"] == payload


@pytest.mark.parametrize("body", [[{"type": "noop"}], "noop", 1, None, True])
def test_body_that_is_not_an_object_is_refused(api: Api, redis_url: str, body: object) -> None:
    r = post_raw(api, SUBMIT, json.dumps(body).encode())
    assert_error(r, 400, "invalid_input", "body")
    assert task_count(redis_url) == 0


def test_large_integers_and_unicode_survive_the_round_trip(api: Api) -> None:
    payload = {"big": 2**70, "text": "zürich ☃ \U0001f680", "nested": [[[{"a": None}]]]}
    task = api.submit("prod-eu", payload=payload, dedupeKey="clé ☃")
    assert api.task(task["id"])["payload"] == payload
    assert api.task(task["id"])["dedupeKey"] == "clé ☃"


# -- query parameters ------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "501", "-1", "abc", "1.5", "true", "1e2", " 5", "9" * 40])
def test_bad_limit_is_refused(api: Api, limit: str) -> None:
    assert_error(api.get("/tasks", params={"limit": limit}), 400, "invalid_input", "limit")
    assert_error(api.get("/deployments", params={"limit": limit}), 400, "invalid_input", "limit")


@pytest.mark.parametrize("cursor", ["abc", "-5", "1e3", "1.0", "9" * 40, "(5"])
def test_bad_task_cursor_is_refused(api: Api, cursor: str) -> None:
    assert_error(api.get("/tasks", params={"cursor": cursor}), 400, "invalid_input", "cursor")


@pytest.mark.parametrize("cursor", ["a b", "(x", "[x", "x" * 129])
def test_bad_deployment_cursor_is_refused(api: Api, cursor: str) -> None:
    r = api.get("/deployments", params={"cursor": cursor})
    assert_error(r, 400, "invalid_input", "cursor")


@pytest.mark.parametrize("status", ["bogus", "QUEUED", "done", "1"])
def test_bad_status_filter_is_refused(api: Api, status: str) -> None:
    assert_error(api.get("/tasks", params={"status": status}), 400, "invalid_input", "status")


def test_overlong_type_filter_is_refused(api: Api) -> None:
    assert_error(api.get("/tasks", params={"type": "t" * 300}), 400, "invalid_input", "type")


# -- task ids and routes ---------------------------------------------------------------


@pytest.mark.parametrize("task_id", [MISSING_ID, *BAD_TASK_IDS])
def test_unknown_task_id_answers_404_on_every_task_endpoint(api: Api, task_id: str) -> None:
    tid = quote(task_id, safe="")
    for r in (
        api.get(f"/tasks/{tid}"),
        api.get(f"/tasks/{tid}/log"),
        api.post(f"/tasks/{tid}/cancel"),
        api.post(f"/tasks/{tid}/skip"),
        api.post(f"/tasks/{tid}/retry"),
    ):
        assert_error(r, 404, "task_not_found")


def test_unknown_path_answers_json_404(api: Api) -> None:
    assert_error(api.get("/nothing-here"), 404, "not_found")
    assert_error(api.get("/../../etc/passwd"), 404, "not_found")


def test_wrong_method_answers_json_405(api: Api) -> None:
    r = api.session.delete(api.url(f"/tasks/{MISSING_ID}"))
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"]
    assert_error(api.get(f"/tasks/{MISSING_ID}/cancel"), 405, "method_not_allowed")
    assert_error(api.get(SUBMIT), 405, "method_not_allowed")


@pytest.mark.parametrize("value", ["a\x00b", "a\x0bb", "a\x0cb", "a\x7fb"])
def test_control_character_in_a_handshake_header_is_a_400_before_the_upgrade(api, value):
    """The handshake's own HTTP parser would choke on it after the app let it through (500)."""
    r = requests.get(
        api.base_url + "/ws/dashboard",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "User-Agent": value,
        },
        timeout=10,
    )
    assert_error(r, 400, "invalid_header", field="User-Agent")
