"""What the fuzz tests send to submit: deployment names and bodies, valid and not.

Each strategy gives the request together with what the contract says of it,
so a test can tell a wrong acceptance from a right refusal.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.api_client import PREFIX
from tests.fuzz_harness import OK, Expect, Probe, either, refused

DEPLOYMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")  # the contract's, full match
PRIORITIES = ["critical", "high", "medium", "low"]
MAX_DEPTH = 64  # the contract's nesting limit
MAX_BODY = 256 * 1024  # the contract's default body limit
# Lanes of the seed state, and suffixes that once named another lane's keys.
LANES = ["a", "b", "p:q", "prod-eu"]
SUFFIXES = ["", ":q", ":lease", ":h", ":ev", ":log", ":x"]
# Names whose keys met another seeded lane's in the first key layout (lane a's queue
# was the lane hash of a:q; the paused lane p:q's hash was lane p's queue).
NEIGHBOURS = ["a:q", "p", "a:lease", "prod-eu:q", "b:q"]
# A task id of the right shape that names no task.
MISSING_ID = "0123456789abcdef"


def segment(text: str | bytes) -> str:
    """One path segment or query value, every byte that could mean something escaped."""
    return quote(text, safe="")


# -- names ---------------------------------------------------------------------------------


def name_expect(name: str) -> Expect:
    if DEPLOYMENT_RE.fullmatch(name):
        return OK
    return refused(f"deployment {name!r} is outside the contract's pattern", 400, 404)


# Valid names, and names that end in a key suffix of another lane (a:q, a:lease, ...).
valid_names = st.one_of(
    st.sampled_from(LANES + NEIGHBOURS),
    st.builds(str.__add__, st.sampled_from(LANES), st.sampled_from(SUFFIXES)),
    st.from_regex(DEPLOYMENT_RE, fullmatch=True),
    st.sampled_from(["x" * 128, "app:prod", "a.b_c-d:e", "0"]),
)
invalid_names = st.one_of(
    valid_names.map(lambda name: name + "\n"),
    st.builds(lambda a, b: f"{a}\n{b}", valid_names, valid_names),
    st.text(max_size=140).filter(lambda name: not DEPLOYMENT_RE.fullmatch(name)),
    st.sampled_from(
        [
            "",
            "x" * 129,
            "dé",
            "a b",
            "-x",
            ".x",
            ":x",
            "_x",
            "a/b",
            "%",
            "?x",
            "#",
            "a\x00",
            "a\tb",
            "prod\u2013eu",
            "\ufb01",
            "\uff11",
            "..",
            "a\rb",
        ]
    ),
)


@st.composite
def names(draw: st.DrawFn, valid_share: int = 3) -> str:
    """Mostly valid names (so bodies get judged too), some invalid ones."""
    return draw(st.one_of(*[valid_names] * valid_share, invalid_names))


# -- submit bodies -------------------------------------------------------------------------

# A placeholder in a serialised body where raw text (NaN, bad bytes, a duplicate key) goes.
HOLE = "\x00hole\x00"
HOLE_JSON = json.dumps(HOLE)

json_keys = st.text(max_size=8).filter(lambda k: k != "dedupeKey")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(json_keys, kids, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(json_keys, json_values, max_size=4)

PAYLOADS = {
    "noop": json_objects,
    "echo": st.fixed_dictionaries({"lines": st.lists(st.text(max_size=20), max_size=4)}),
    "sleep": st.fixed_dictionaries({"seconds": st.integers(0, 100) | st.floats(0, 100)}),
    "guarded": st.fixed_dictionaries({}, optional={"ok": st.booleans()}),
}
OPTIONAL_FIELDS = {
    "priority": st.sampled_from(PRIORITIES),
    "dedupeKey": st.sampled_from(["k1", "k2"]) | st.text(min_size=1, max_size=40),
    "keyFields": st.dictionaries(json_keys, json_values, min_size=1, max_size=3),
    "cooldownS": st.integers(0, 86400),
    "maxRetries": st.integers(0, 10),
    "timeoutS": st.integers(1, 3600),
    "metadata": json_objects | st.just({"dedupeKey": "k1"}),
}


@st.composite
def valid_bodies(draw: st.DrawFn) -> tuple[dict, Expect]:
    """A body the contract accepts, except that ``guarded`` fails preflight without ok."""
    type_ = draw(st.sampled_from(sorted(PAYLOADS)))
    body: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {"type": st.just(type_)}, optional={"payload": PAYLOADS[type_], **OPTIONAL_FIELDS}
        )
    )
    payload: dict = body.get("payload", {})
    if type_ == "guarded" and not payload.get("ok"):
        return body, refused(
            "guarded's preflight fails without payload.ok", 422, codes=("preflight_failed",)
        )
    return body, OK


# Values of the wrong JSON type for each field: the contract refuses them (400).
_lists = st.lists(st.integers(), max_size=2)
_dicts = st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
_not_int = st.one_of(st.text(max_size=5), st.booleans(), _lists, _dicts)
WRONG_TYPES = {
    "type": st.one_of(
        st.integers(),
        st.booleans(),
        _lists,
        _dicts,
        st.just(""),
        st.text(max_size=10).map(lambda t: "zz-unknown-" + t),
    ),
    "payload": st.one_of(st.text(max_size=5), st.integers(), st.booleans(), _lists),
    "priority": st.one_of(
        st.text(max_size=10).filter(lambda t: t not in PRIORITIES),
        st.integers(),
        st.booleans(),
        _lists,
        _dicts,
    ),
    "dedupeKey": st.one_of(st.integers(), st.booleans(), _lists, _dicts),
    "keyFields": st.one_of(st.text(max_size=5), st.integers(), st.booleans(), _lists),
    "metadata": st.one_of(st.text(max_size=5), st.integers(), st.booleans(), _lists),
    "cooldownS": _not_int,
    "maxRetries": _not_int,
    "timeoutS": _not_int,
}
# Values the contract says nothing about: accepted or refused, never a 500.
_edge_ints = st.one_of(
    st.integers(min_value=2**63),
    st.integers(max_value=-1),
    st.floats(allow_nan=False, allow_infinity=False),
)
EDGE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "cooldownS": _edge_ints,
    "maxRetries": _edge_ints,
    "timeoutS": _edge_ints,
    "dedupeKey": st.just("") | st.text(min_size=257, max_size=300),
    "keyFields": st.just({}),
    "payload": st.none(),
    "priority": st.none(),
    "dependsOn": st.lists(st.sampled_from([MISSING_ID, "nope"]), max_size=2),
}


def serialise(body: Any, draw: st.DrawFn) -> bytes:
    return json.dumps(body, ensure_ascii=draw(st.booleans())).encode()


def fill_hole(raw: bytes, text: bytes) -> bytes:
    assert HOLE_JSON.encode() in raw
    return raw.replace(HOLE_JSON.encode(), text, 1)


def hole_in(body: dict, draw: st.DrawFn, as_key: bool = False) -> None:
    """Puts the HOLE at a value (or key) of the payload, the metadata or the top level."""
    where = draw(st.sampled_from(["payload", "metadata", "top"]))
    if where == "top":
        if as_key:
            body[HOLE] = 0
        else:
            body[draw(st.sampled_from(["cooldownS", "dedupeKey", "priority"]))] = HOLE
        return
    target = body.setdefault(where, {})
    if not isinstance(target, dict):
        target = body[where] = {}
    if as_key:
        target[HOLE] = 0
    else:
        target[draw(st.sampled_from(["n", "lines", "ok"]))] = HOLE


def _wrong_type(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    name = draw(st.sampled_from(sorted(WRONG_TYPES)))
    body[name] = value = draw(WRONG_TYPES[name])
    return serialise(body, draw), refused(f"{name}={value!r} has the wrong type", 400), False


def _edge_value(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    name = draw(st.sampled_from(sorted(EDGE_VALUES)))
    body[name] = draw(EDGE_VALUES[name])
    return serialise(body, draw), either(f"{name} at an edge"), True


def _unknown_field(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    name = draw(
        st.text(max_size=12).filter(
            lambda n: n not in OPTIONAL_FIELDS and n not in ("type", "payload")
        )
    )
    body[name] = draw(json_values)
    return serialise(body, draw), either(f"unknown field {name!r}"), True


def _constant(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    hole_in(body, draw)
    text = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity"]))
    return fill_hole(serialise(body, draw), text), refused(f"{text!r} is not JSON", 400), False


def _huge_number(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    hole_in(body, draw)
    text = draw(st.sampled_from([b"1e999", b"-1e400", b"1" * 5000, b"1.0e-99999"]))
    return fill_hole(serialise(body, draw), text), either("a number beyond a double"), False


def _nesting(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    """Lists nested ``depth`` deep in the payload: the document is 2 + depth deep."""
    depth = draw(st.integers(1, 90))
    deep: list = []
    for _ in range(depth - 1):
        deep = [deep]
    payload = body.get("payload")
    body["payload"] = {**(payload if isinstance(payload, dict) else {}), "deep": deep}
    if 2 + depth > MAX_DEPTH:
        return serialise(body, draw), refused(f"nested {2 + depth} deep", 400), False
    return serialise(body, draw), OK, True


def _duplicate_key(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    hole_in(body, draw, as_key=True)
    key = json.dumps(draw(st.sampled_from(["type", "priority", "a"]) | st.text(max_size=4)))
    first, second = draw(scalars), draw(scalars)
    pair = f"{key}: {json.dumps(first)}, {key}: {json.dumps(second)}".encode()
    raw = serialise(body, draw).replace(HOLE_JSON.encode() + b": 0", pair, 1)
    return raw, refused(f"duplicate key {key}", 400), False


def _bad_utf8(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    hole_in(body, draw, as_key=draw(st.booleans()))
    bad = draw(
        st.sampled_from(
            [
                b"\xff",
                b"\xc3",
                b"\xc0\x80",
                b"\xed\xa0\x80",
                b"\x80",
                b"\xf4\x90\x80\x80",
                b"\xe2\x82",
                b"\xfe\xff",
            ]
        )
    )
    text = b'"x' + bad + b'y"'
    return fill_hole(serialise(body, draw), text), refused(f"invalid UTF-8 {bad!r}", 400), False


def _surrogate(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    hole_in(body, draw, as_key=draw(st.booleans()))
    text = draw(
        st.sampled_from(
            [b'"\\ud800"', b'"\\udfff"', b'"x\\udc00y"', b'"\\udc00\\ud800"', b'"\\uDBFF"']
        )
    )
    return fill_hole(serialise(body, draw), text), refused(f"lone surrogate {text!r}", 400), False


def _surrogate_pair(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    body.setdefault("metadata", {})
    if isinstance(body["metadata"], dict):
        body["metadata"]["emoji"] = "\U0001f600"
    return json.dumps(body, ensure_ascii=True).encode(), OK, True


def _too_large(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    body["metadata"] = {"big": "x" * (MAX_BODY + draw(st.integers(1, 1000)))}
    return serialise(body, draw), refused("body over the limit", 413), False


def _framing(draw: st.DrawFn, body: dict) -> tuple[bytes, Expect, bool]:
    """Whitespace around the document is fine; a cut or trailing junk is not."""
    raw = serialise(body, draw)
    how = draw(st.sampled_from(["space", "cut", "junk", "bom"]))
    if how == "space":
        return b" \n" + raw + draw(st.sampled_from([b" ", b"\n", b"\r\n\t"])), OK, True
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw) - 1))], refused("truncated JSON", 400), False
    if how == "junk":
        junk = draw(st.sampled_from([b"x", b"}", b"{}", b",", b"\x00"]))
        return raw + junk, refused(f"junk after the document: {junk!r}", 400), False
    return b"\xef\xbb\xbf" + raw, either("a UTF-8 byte order mark"), True


MUTATIONS = [
    _wrong_type,
    _edge_value,
    _unknown_field,
    _constant,
    _huge_number,
    _nesting,
    _duplicate_key,
    _bad_utf8,
    _surrogate,
    _surrogate_pair,
    _too_large,
    _framing,
]


@st.composite
def near_valid_bodies(draw: st.DrawFn) -> tuple[bytes, Expect, dict | None]:
    """(raw body, expectation, the body as meant if the raw text means it exactly)."""
    body, expect = draw(valid_bodies())
    mutate = draw(st.sampled_from([None, *MUTATIONS]))
    if mutate is None:
        return serialise(body, draw), expect, body
    raw, mutation_expect, exact = mutate(draw, body)
    return raw, expect & mutation_expect, body if exact else None


@st.composite
def garbage_bodies(draw: st.DrawFn) -> tuple[bytes, Expect, dict | None]:
    raw = draw(
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=60).map(str.encode),
            json_values.filter(lambda v: not isinstance(v, dict)).map(
                lambda v: json.dumps(v).encode()
            ),
            st.sampled_from([b"", b"{", b"[]", b"null", b"{}", b'{"type": null}', b"\xff\xfe{}"]),
        )
    )
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "type" in doc:
        return raw, either("garbage that happens to parse"), None
    return raw, refused("not a submission", 400), None


CONTENT_TYPES: list[tuple[bytes | None, Expect]] = [
    (b"application/json", OK),
    (b"application/json; charset=utf-8", OK),
    (b"application/json;charset=UTF-8", OK),
    (b"application/vnd.api+json", either("a +json type")),
    (b"APPLICATION/JSON", either("an upper-case type")),
    (b"text/plain", refused("not JSON", 415)),
    (b"application/x-www-form-urlencoded", refused("a form post", 415)),
    (b"multipart/form-data; boundary=x", refused("a form post", 415)),
    (b"", refused("an empty Content-Type", 415)),
    (None, refused("no Content-Type", 415)),
]


@st.composite
def content_types(draw: st.DrawFn) -> tuple[bytes | None, Expect]:
    """Mostly JSON, so that the body decides."""
    if draw(st.integers(0, 3)):
        return CONTENT_TYPES[0]
    return draw(st.sampled_from(CONTENT_TYPES))


@st.composite
def submit_probes(draw: st.DrawFn) -> Probe:
    name = draw(names())
    raw, body_expect, meant = draw(
        st.one_of(near_valid_bodies(), near_valid_bodies(), garbage_bodies())
    )
    ctype, ctype_expect = draw(content_types())
    expect = name_expect(name) & body_expect & ctype_expect
    headers = () if ctype is None else (("Content-Type", ctype),)
    return Probe(
        "POST",
        f"{PREFIX}/deployments/{segment(name)}/tasks",
        headers,
        raw,
        expect,
        submitted=meant,
        deployment=name,
    )
