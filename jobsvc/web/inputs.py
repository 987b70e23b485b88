"""Reading a request's JSON body and query parameters, strictly.

What a client sends is parsed here before anything reaches the service, and
every refusal names the field, so bad input ends as a 400/413/415 that says
what to fix and never as a 500 deeper down.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple

from flask import Flask, current_app, request

from ..errors import BodyTooLarge, InvalidInput, UnsupportedMediaType
from ..validation import STREAM_START, encodable, stream_id

# Deepest nesting of arrays and objects a body may have: far beyond any real
# payload, well inside what json and the stores can encode without recursing out.
MAX_JSON_DEPTH = 64
# A cursor is an acceptance sequence number: digits only, and never longer than this.
CURSOR_RE = re.compile(r"[0-9]{1,18}")
LIMIT_RE = re.compile(r"[0-9]{1,6}")
MAX_FILTER_LEN = 256


class ResumePoint(NamedTuple):
    """Where a live stream resumes (after ``id``), and the parameter that said so."""

    id: str
    field: str


def init_app(app: Flask) -> None:
    app.before_request(refuse_large_body)


def refuse_large_body() -> None:
    """413 for any request that announces a body over the limit, read or not.

    Views that ignore their body (cancel, pause, ...) never read it, so
    without this a huge upload would be accepted and drained by the server.
    """
    if (request.content_length or 0) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise body_too_large()


def body_too_large() -> BodyTooLarge:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return BodyTooLarge(f"the request body is over the limit of {limit} bytes")


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    """Numbers like 1e999 parse as infinity, which no JSON encoder can write back."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members, refusing a repeated key (after unescaping).

    json keeps the last of two equal keys, while other parsers keep the
    first: a proxy or a portal that validated the body could have seen
    another value than the one that would run.
    """
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key[:60]!r}")
            seen.add(key)
    return obj


def _invalid_json(reason: str) -> InvalidInput:
    return InvalidInput(
        f"the request body is not valid JSON: {reason}", field="body", code="invalid_json"
    )


def json_body() -> Any:
    """The request's JSON document: 415 unless declared JSON, 400 unless it parses."""
    if not request.is_json:
        raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")
    raw = _read_body(current_app.config["MAX_CONTENT_LENGTH"])
    try:
        body = json.loads(
            raw, parse_constant=_constant, parse_float=_finite, object_pairs_hook=_unique_keys
        )
    except RecursionError:
        raise _invalid_json("nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, huge integers
        raise _invalid_json(str(exc)) from None
    _check_document(body)
    return body


def optional_json_body() -> Any:
    """The JSON body of a request whose body is optional: None when it has none
    (a client may post an action with no body at all).  A body that is JSON
    ``null`` is refused: it is not an object, and it is not "no body" either."""
    if request.content_length == 0 or (request.content_length is None and not request.is_json):
        return None
    body = json_body()
    if body is None:
        raise InvalidInput("the request body must be a JSON object, or none", field="body")
    return body


def _read_body(limit: int) -> bytes:
    """At most ``limit`` bytes of body, else 413.

    Werkzeug checks the limit against Content-Length only: a chunked body
    (no Content-Length) would be read whole, so this reads one byte past the
    limit and stops there.
    """
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise body_too_large()
    return b"".join(chunks)


def _check_document(value: Any) -> None:
    """Refuses what parses but would break later: nesting deeper than
    MAX_JSON_DEPTH, and strings with lone surrogates (``"\\ud800"``), which
    cannot be encoded as UTF-8 for Redis.  Walked without recursion.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            _check_text(item)
            continue
        if isinstance(item, dict):
            children = [*item, *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level + 1 > MAX_JSON_DEPTH:
            raise _invalid_json(f"nested deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, level + 1) for child in children)


def _check_text(text: str) -> None:
    if not encodable(text):
        raise _invalid_json("a string holds a lone UTF-16 surrogate")


def query_text(name: str) -> str | None:
    """A query parameter; empty counts as absent (``?status=&type=x`` filters on type only)."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_FILTER_LEN:
        raise InvalidInput(f"{name} is longer than {MAX_FILTER_LEN} characters", field=name)
    return value


def query_limit(default: int, high: int, name: str = "limit") -> int:
    """A page size: 1 to ``high``, ``default`` when absent; anything else is a 400."""
    value = query_text(name)
    if value is None:
        return default
    if not LIMIT_RE.fullmatch(value) or not 1 <= int(value) <= high:
        raise InvalidInput(f"{name} must be an integer between 1 and {high}", field=name)
    return int(value)


def query_cursor() -> int | None:
    """The ``cursor`` of a task listing: the ``nextCursor`` of the page before."""
    value = query_text("cursor")
    if value is None:
        return None
    if not CURSOR_RE.fullmatch(value):
        raise InvalidInput(
            "cursor must be a nextCursor returned by an earlier page", field="cursor"
        )
    return int(value)


def resume_point() -> ResumePoint:
    """A live stream's resume point: ``Last-Event-ID``, else ``?since=``, else the start.

    An EventSource sends ``Last-Event-ID`` when it reconnects, keeping its
    URL's ``since``; the header is the later position, so it wins.  Each
    one given must be a stream id, else a 400 naming it, before any stream
    starts.  The id comes back in Redis' full form, ``<ms>-<seq>``.
    """
    since = _resume_point(request.args.get("since"), "since")
    last_event = _resume_point(request.headers.get("Last-Event-ID"), "Last-Event-ID")
    return last_event or since or ResumePoint(STREAM_START, "since")


def _resume_point(value: str | None, field: str) -> ResumePoint | None:
    """None when the client gave no such value (or an empty one)."""
    return ResumePoint(stream_id(value, field), field) if value else None
