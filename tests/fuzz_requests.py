"""What the fuzz tests send besides submissions: task paths, live streams, listing
queries, and headers (Host, Origin, Authorization, Content-Type, Last-Event-ID).

Each strategy gives the request together with what the contract says of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from hypothesis import strategies as st

from tests.api_client import PREFIX
from tests.fuzz_bodies import (
    LANES,
    MISSING_ID,
    PAYLOADS,
    content_types,
    name_expect,
    names,
    segment,
    valid_names,
)
from tests.fuzz_harness import (
    LANE_A_TASKS,
    OK,
    OWN,
    REFS,
    REJECT,
    WS_HEADERS,
    Expect,
    Probe,
    either,
    ref,
    refused,
)

STATUSES = ["queued", "running", "completed", "failed", "canceled", "skipped"]
U64 = 2**64
MAX_QUEUE_LIMIT = 1000


def header_value(text: str) -> bytes:
    """Text as a header carries it (Latin-1), without the line breaks no header can hold."""
    return re.sub(rb"[\r\n]", b"?", text.encode("latin-1", "replace"))


# Header bytes: anything but a line break, and often a control byte a parser may choke on.
HEADER_BYTES = st.one_of(
    st.binary(max_size=24).map(lambda b: re.sub(rb"[\r\n]", b"", b)),
    st.sampled_from([b"a\x00b", b"a\x0bb", b"a\x0cb", b"a\x7fb", b"\t a \t", b"\xff\xfe"]),
)


def query(params: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{segment(k)}={segment(v)}" for k, v in params)


# -- paths and query strings ---------------------------------------------------------------


def since_expect(since: str) -> Expect:
    """A stream id ``ms[-seq]`` of ASCII digits, each part below 2**64; empty means none."""
    if since == "":
        return OK
    match = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", since)
    if match is None:
        return refused(f"since {since!r} is malformed", 400)
    if any(part is not None and int(part) >= U64 for part in match.groups()):
        return refused(f"since {since!r} is out of range", 400)
    if any(part is not None and len(part) > 1 and part[0] == "0" for part in match.groups()):
        return either(f"since {since!r} has leading zeros")
    if any(int(part) for part in match.groups() if part is not None):
        # In range only up to the task's last event (tests/test_live_input.py checks where
        # the line falls); the seeded tasks' streams are not modelled here.
        return either(f"since {since!r} is in range only up to the task's last event")
    return OK


# Mostly the ids a digit check lets through: too large, a bare "-", other scripts' digits.
SINCES = st.sampled_from(
    [
        "0",
        "0-0",
        "1-0",
        "1700000000000-5",
        "",
        str(U64 - 1),
        f"{U64 - 1}-{U64 - 1}",
        str(U64),
        f"1-{U64}",
        "9" * 30,
        "1-",
        "-1",
        "1-2-3",
        "abc",
        "1.5",
        " 1",
        "1\n",
        "\u0661\u0662",
        "\u00b2",
        "+1",
        "0x10",
        "1-\u00b3",
        "00-01",
    ]
)
sinces = st.one_of(
    SINCES,
    SINCES,
    st.integers(0, 2**70).map(str),
    st.builds("{}-{}".format, st.integers(0, 2**70), st.integers(0, 2**70)),
    st.text(max_size=12),
)

# Task references: the seeded tasks, one of the right shape that does not exist, garbage.
TASK_REFS: dict[str, Expect] = {
    ref("active"): OK,
    ref("waiting"): OK,
    ref("last"): OK,
    ref("canceled"): OK,
    ref("deduped"): OK,
    MISSING_ID: refused("no such task", 404),
    ref("active") + "\n": refused("an id with a trailing newline", 400, 404),
    "0123456789ABCDEF": refused("no such task", 404),
    "nope": refused("no such task", 400, 404),
}
seeded_refs = st.sampled_from([ref(name) for name in REFS])
task_refs = st.one_of(
    seeded_refs,
    st.sampled_from(sorted(TASK_REFS)),
    st.text(max_size=40).filter(lambda t: t not in TASK_REFS),
)


def task_ref_expect(task: str) -> Expect:
    return TASK_REFS.get(task) or refused(f"task id {task!r} names no task", 400, 404)


# What an action does to each seeded task (no worker runs, so nothing ever starts).
ACTIONS: dict[str, dict[str, Expect]] = {
    "cancel": {"canceled": refused("already ended", 409)},
    "skip": {
        "active": refused("active", 409),
        "deduped": refused("active", 409),
        "canceled": refused("already ended", 409),
    },
    "retry": {
        name: refused("not failed or canceled", 409)
        for name in ("active", "waiting", "last", "deduped")
    },
}


@st.composite
def task_probes(draw: st.DrawFn) -> Probe:
    """Reads and actions on one task, named by a seeded id, a missing one or garbage."""
    task = draw(task_refs)
    expect = task_ref_expect(task)
    target = f"{PREFIX}/tasks/{segment(task)}"
    route = draw(st.sampled_from(["get", "log", "cancel", "skip", "retry"]))
    if route in ("get", "log"):
        return Probe("GET", target + ("/log" if route == "log" else ""), expect=expect)
    name = task.strip("~") if task in TASK_REFS and task.startswith("~") else ""
    return Probe("POST", f"{target}/{route}", expect=expect & ACTIONS[route].get(name, OK))


@st.composite
def stream_probes(draw: st.DrawFn) -> Probe:
    """A task's events over SSE (``?since=`` or ``Last-Event-ID``) or WebSocket (``?since=``)."""
    task = draw(st.one_of(seeded_refs, seeded_refs, task_refs))
    since = draw(sinces)
    expect = task_ref_expect(task) & since_expect(since)
    how = draw(st.sampled_from(["ws", "sse", "header"]))
    if how == "ws":
        return Probe(
            "GET",
            f"/ws/tasks/{segment(task)}?{query([('since', since)])}",
            WS_HEADERS,
            expect=expect,
            websocket=True,
        )
    target = f"{PREFIX}/tasks/{segment(task)}/events"
    if how == "sse":
        return Probe("GET", f"{target}?{query([('since', since)])}", expect=expect)
    value = header_value(since)
    return Probe(
        "GET",
        target,
        (("Last-Event-ID", value),),
        expect=task_ref_expect(task) & since_expect(value.decode("latin-1")),
    )


class Param(NamedTuple):
    """A query parameter's value, what the contract says of it, and for a limit the most
    items an accepted answer may hold."""

    value: str
    expect: Expect
    most: int = 0


def limit_param(high: int) -> st.SearchStrategy[Param]:
    return st.one_of(
        st.integers(1, high).map(lambda n: Param(str(n), OK, n)),
        st.integers(high + 1, 10**12).map(lambda n: Param(str(n), either("over the cap"), high)),
        st.integers(-(10**6), 0).map(lambda n: Param(str(n), refused(f"limit {n}", 400))),
        st.sampled_from(["abc", "1.5", " 5", "5 ", "1e2", "+5", "\u0663", "0x10", "5\n"]).map(
            lambda v: Param(v, refused(f"limit {v!r} is not a count", 400))
        ),
        st.just(Param("", either("empty limit"), high)),
    )


def text_param(
    valid: st.SearchStrategy[str], check: Callable[[str], Expect]
) -> st.SearchStrategy[Param]:
    """Values from ``valid`` or any text, judged by ``check``."""
    return st.one_of(valid, st.text(max_size=20)).map(lambda v: Param(v, check(v)))


def status_expect(value: str) -> Expect:
    if value == "":
        return either("empty filter")
    return OK if value in STATUSES else refused(f"status {value!r}", 400)


def listing_name_expect(value: str) -> Expect:
    return either("empty filter") if value == "" else name_expect(value)


def type_expect(value: str) -> Expect:
    return OK if value in PAYLOADS else either(f"unknown type {value[:20]!r}")


def cursor_expect(value: str) -> Expect:
    if value == "":
        return either("empty cursor")
    if re.fullmatch(r"[0-9]+", value):
        return OK if len(value) <= 18 else either("a long cursor")
    return refused(f"cursor {value!r}", 400)


TASK_LISTING_PARAMS = {
    "deployment": text_param(st.sampled_from(LANES) | valid_names, listing_name_expect),
    "status": text_param(st.sampled_from(STATUSES), status_expect),
    "type": text_param(st.sampled_from(sorted(PAYLOADS)) | st.text(max_size=300), type_expect),
    "limit": limit_param(500),
    "cursor": text_param(st.integers(0, 10**18 - 1).map(str), cursor_expect),
}


@st.composite
def task_listing_probes(draw: st.DrawFn) -> Probe:
    """``GET /tasks`` with any of its query parameters; an answer holds only what it asked."""
    drawn: dict[str, Param] = draw(st.fixed_dictionaries({}, optional=TASK_LISTING_PARAMS))
    expect, most = OK, 50
    for param in drawn.values():
        expect &= param.expect
    if "limit" in drawn:
        most = drawn["limit"].most
    filters = tuple(
        (name, drawn[name].value)
        for name in ("deployment", "status", "type")
        if name in drawn and drawn[name].value
    )
    params = [(name, param.value) for name, param in drawn.items()]
    return Probe(
        "GET", f"{PREFIX}/tasks?{query(params)}", expect=expect, listing=("tasks", most, filters)
    )


@st.composite
def deployment_probes(draw: st.DrawFn) -> Probe:
    name = draw(st.one_of(st.just("a"), names(valid_share=2)))
    target = f"{PREFIX}/deployments/{segment(name)}"
    route = draw(st.sampled_from(["get", "pause", "resume", "list"]))
    if route in ("pause", "resume"):
        return Probe("POST", f"{target}/{route}", expect=name_expect(name))
    if route == "list":
        params: list[tuple[str, str]] = []
        expect, most = OK, 100
        if draw(st.booleans()):
            limit, limit_ok, most = draw(limit_param(500))
            params.append(("limit", limit))
            expect &= limit_ok
        if draw(st.booleans()):
            params.append(("cursor", name))
            expect &= listing_name_expect(name)
        return Probe(
            "GET",
            f"{PREFIX}/deployments?{query(params)}",
            expect=expect,
            listing=("deployments", most, ()),
        )
    expect, most, params = name_expect(name), 100, []
    if draw(st.booleans()):
        # Small limits against lane a's three tasks: the answer must hold at most that many.
        limit, limit_ok, most = draw(
            st.one_of(
                st.integers(1, LANE_A_TASKS).map(lambda n: Param(str(n), OK, n)),
                limit_param(MAX_QUEUE_LIMIT),
            )
        )
        params.append(("queueLimit", limit))
        expect &= limit_ok
    return Probe(
        "GET",
        f"{target}?{query(params)}",
        expect=expect,
        listing=("queue", most, (("deployment", name),)),
    )


@st.composite
def other_probes(draw: st.DrawFn) -> Probe:
    """Whole-service routes, unknown paths and methods, raw bytes in paths."""
    return draw(
        st.one_of(
            st.sampled_from(
                [
                    Probe("GET", "/healthz"),
                    Probe("GET", "/"),
                    Probe("GET", f"{PREFIX}/stats"),
                    Probe("GET", f"{PREFIX}/dashboard/events"),
                    Probe("GET", "/ws/dashboard", WS_HEADERS, websocket=True),
                    Probe("GET", "/metrics", expect=either("not built yet")),
                    Probe("GET", f"{PREFIX}/openapi.json", expect=either("not built yet")),
                    Probe("GET", f"{PREFIX}/webhooks/deliveries", expect=either("not built yet")),
                    Probe(
                        "DELETE",
                        f"{PREFIX}/tasks/{ref('active')}",
                        expect=refused("no DELETE", 405),
                    ),
                    Probe("PUT", f"{PREFIX}/deployments/a/tasks", expect=refused("no PUT", 405)),
                    Probe("GET", f"{PREFIX}/deployments/a/tasks", expect=refused("POST only", 405)),
                    Probe("POST", f"{PREFIX}/stats", expect=refused("GET only", 405)),
                ]
            ),
            st.lists(st.binary(min_size=1, max_size=6), min_size=1, max_size=4).map(
                lambda parts: Probe(
                    "GET",
                    PREFIX + "/" + "/".join(map(segment, parts)),
                    expect=either("a path of raw bytes"),
                )
            ),
        )
    )


listing_probes = st.one_of(task_listing_probes(), deployment_probes(), other_probes())


# -- headers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A request that is accepted as it is; the header fuzz adds headers to it."""

    name: str
    probe: Probe

    @property
    def writes(self) -> bool:
        """What the Origin check guards: a non-GET request or a WebSocket handshake."""
        return self.probe.method != "GET" or self.probe.websocket

    @property
    def open(self) -> bool:
        """The page and the health check carry no data; the contract's checks guard the rest."""
        return self.probe.path in ("/", "/healthz")


JSON_TYPE = (("Content-Type", b"application/json"),)
ROUTES = [
    Route(
        "submit",
        Probe(
            "POST",
            f"{PREFIX}/deployments/prod-eu/tasks",
            JSON_TYPE,
            b'{"type": "noop"}',
            deployment="prod-eu",
        ),
    ),
    Route("list", Probe("GET", f"{PREFIX}/tasks")),
    Route("stats", Probe("GET", f"{PREFIX}/stats")),
    Route("pause", Probe("POST", f"{PREFIX}/deployments/a/pause")),
    Route("cancel", Probe("POST", f"{PREFIX}/tasks/{ref('waiting')}/cancel")),
    Route("events", Probe("GET", f"{PREFIX}/tasks/{ref('active')}/events")),
    Route("dashboard", Probe("GET", f"{PREFIX}/dashboard/events")),
    Route("ws-task", Probe("GET", f"/ws/tasks/{ref('canceled')}", WS_HEADERS, websocket=True)),
    Route("ws-dashboard", Probe("GET", "/ws/dashboard", WS_HEADERS, websocket=True)),
    Route("page", Probe("GET", "/")),
    Route("healthz", Probe("GET", "/healthz")),
]
LOOPBACK_HOSTS = [OWN, "localhost:~port~", "[::1]:~port~", "127.0.0.1", "localhost"]
UNCLEAR_HOSTS = [
    "127.0.0.2:~port~",
    "127.0.0.1:1",
    "foo.localhost:~port~",
    "LOCALHOST:~port~",
    "localhost.:~port~",
    "[0:0:0:0:0:0:0:1]:~port~",
    "2130706433:~port~",
    None,
]
FOREIGN_HOSTS = [
    "evil.example",
    "evil.example:~port~",
    "10.0.0.1:~port~",
    "192.168.0.1",
    "0.0.0.0:~port~",
    "127.0.0.1.evil.example:~port~",
    "localhost.evil.example",
    "[::ffff:10.0.0.1]:~port~",
    "example.com:80",
]
FOREIGN_ORIGINS = [
    "http://evil.example",
    "https://evil.example:8443",
    "null",
    "http://127.0.0.1.evil.example",
    "http://localhost.evil.example:~port~",
    "http://evil.example:~port~",
    "file://",
]
UNCLEAR_ORIGINS = [
    "http://localhost:~port~",
    "http://127.0.0.1:1",
    "https://~own~",
    "http://[::1]:~port~",
    "HTTP://~own~",
]


def host_expect(route: Route, host: str | None) -> Expect:
    if host in LOOPBACK_HOSTS or route.open:
        return OK if host in LOOPBACK_HOSTS else either(f"Host {host!r} on an open path")
    if host in UNCLEAR_HOSTS:
        return either(f"Host {host!r}")
    return refused(f"Host {host!r} is not loopback (DNS rebinding)", 403, codes=("bad_host",))


def origin_expect(route: Route, origin: str | None, host: str | None) -> Expect:
    if origin is None or not route.writes or origin == f"http://{OWN}" and host == OWN:
        return OK
    if origin in UNCLEAR_ORIGINS or origin.startswith(f"http://{OWN}"):
        return either(f"Origin {origin!r}")
    return refused(
        f"Origin {origin!r} on a {route.name} (cross-site)", 403, codes=("cross_origin",)
    )


@st.composite
def header_probes(draw: st.DrawFn) -> Probe:
    """A route with Host, Origin, Authorization, Content-Type and Last-Event-ID headers."""
    route = draw(st.sampled_from(ROUTES))
    host = draw(
        st.one_of(
            st.sampled_from(LOOPBACK_HOSTS),
            st.sampled_from(UNCLEAR_HOSTS),
            st.sampled_from(FOREIGN_HOSTS),
            st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,8}){1,2}", fullmatch=True).filter(
                lambda h: not h.endswith("localhost")
            ),
        )
    )
    origin = draw(
        st.one_of(
            st.none(),
            st.just(f"http://{OWN}"),
            st.sampled_from(FOREIGN_ORIGINS),
            st.sampled_from(UNCLEAR_ORIGINS),
            st.text(st.characters(exclude_characters="\r\n"), max_size=20).map(
                lambda t: "http://" + t
            ),
        )
    )
    probe = replace(route.probe, host=host)
    expect = host_expect(route, host) & origin_expect(route, origin, host)
    if origin is not None:
        probe = probe.with_header("Origin", origin.encode("utf-8"))
    if route.name == "submit":
        ctype, ctype_expect = draw(content_types())
        others = tuple(h for h in probe.headers if h[0] != "Content-Type")
        probe = replace(probe, headers=others).with_header("Content-Type", ctype)
        expect &= ctype_expect
    if route.name == "events" and draw(st.booleans()):
        since = header_value(draw(sinces))
        probe = probe.with_header("Last-Event-ID", since)
        expect &= since_expect(since.decode("latin-1"))
    # Any other header a client may send, with any byte a header line can carry.
    agent = draw(st.none() | HEADER_BYTES)
    probe = probe.with_header("User-Agent", agent)
    if probe.websocket and agent is not None and re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", agent):
        # A control character is refused before a handshake (its HTTP parser would choke).
        expect &= refused("a control character in a handshake's header", 400)
    authorization = draw(
        st.one_of(
            st.none(),
            st.just(b"Bearer nope"),
        )
    )
    probe = probe.with_header("Authorization", authorization)
    return replace(probe, expect=expect)


# -- tokens ----------------------------------------------------------------------------------

FULL_TOKEN = "full-token-1"
READ_TOKEN = "read-token"


def token_expect(route: Route, token: bytes | None) -> Expect:
    """What a token in the Authorization header lets a request do."""
    if route.open:
        return OK
    if token is None:
        return refused("no token", 401, codes=("unauthorized",))
    if token in (b"Bearer " + FULL_TOKEN.encode(), b"bearer " + FULL_TOKEN.encode()):
        return OK
    if token == b"Bearer " + READ_TOKEN.encode():
        return refused("a read token", 403) if route.writes and not route.probe.websocket else OK
    if token.strip() != token or token.count(b" ") > 1:
        return either(f"a token with extra spaces: {token!r}")
    return refused(f"a wrong token {token!r}", 401, codes=("unauthorized",))


TOKENS = st.one_of(
    st.sampled_from(
        [
            None,
            b"Bearer " + FULL_TOKEN.encode(),
            b"bearer " + FULL_TOKEN.encode(),
            b"Bearer " + READ_TOKEN.encode(),
            b"Bearer  " + FULL_TOKEN.encode(),
            b"Basic " + FULL_TOKEN.encode(),
            FULL_TOKEN.encode(),
            b"Bearer",
            b"Bearer " + FULL_TOKEN.encode()[:-1],
            b"Bearer " + FULL_TOKEN.upper().encode(),
            b"Bearer " + READ_TOKEN.encode() + b"x",
            b"Bearer ci:" + FULL_TOKEN.encode(),
        ]
    ),
)


def query_token_expect(
    route: Route, header: bytes | None, header_expect: Expect, value: str
) -> Expect:
    """``?token=`` is the WebSocket form; elsewhere, or beside a header, the contract is silent."""
    valid = value in (FULL_TOKEN, READ_TOKEN)
    if header is None and route.probe.websocket:
        return OK if valid else refused("a wrong ?token=", 401, codes=("unauthorized",))
    if not valid and header_expect.kind == REJECT:
        return header_expect
    return either(f"?token={value} beside the header {header!r}")


@st.composite
def token_probes(draw: st.DrawFn) -> Probe:
    """A route with an Authorization header, maybe ``?token=``, and any Host and Origin."""
    route = draw(st.sampled_from(ROUTES))
    token = draw(TOKENS)
    probe, expect = route.probe, token_expect(route, token)
    if draw(st.booleans()) and not route.open:
        value = draw(st.sampled_from([FULL_TOKEN, READ_TOKEN, "nope", ""]))
        sep = "&" if "?" in probe.path else "?"
        probe = replace(probe, path=f"{probe.path}{sep}{query([('token', value)])}")
        expect = query_token_expect(route, token, expect, value)
    probe = probe.with_header("Authorization", token)
    host = draw(st.sampled_from([OWN, "jobs.example.com", "10.0.0.1:8080"]))
    origin = draw(st.sampled_from([None, "https://portal.example.com", f"http://{OWN}"]))
    if host != OWN or origin not in (None, f"http://{OWN}"):
        expect = expect & either("Host and Origin are not checked when tokens are")
    probe = probe.with_header("Origin", None if origin is None else origin.encode())
    return replace(probe, host=host, expect=expect)
