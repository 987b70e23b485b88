"""The fuzz tests' harness: one request sent raw over loopback, and judged.

A ``Probe`` is a request plus what the contract says of it (``Expect``):
accepted, refused, or either.  ``Harness.run`` restores the seed state, sends
the probe and holds the answer to every property of ``tests/test_fuzz.py``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import redis

from jobsvc.service import Service
from tests.api_client import Api

ACCEPT, REJECT, EITHER = "accept", "reject", "either"
# The server's own host:port in a probe, filled in by the harness (as ~port~ is).
OWN = "~own~"

# -- what a request is, and what the contract says of it ---------------------------------


@dataclass(frozen=True)
class Expect:
    """What the contract allows: accepted (2xx), refused (4xx, maybe with this code), either."""

    kind: str = ACCEPT
    statuses: frozenset[int] = frozenset()
    codes: frozenset[str] = frozenset()
    why: str = ""

    def __and__(self, other: Expect) -> Expect:
        """Two facts about one request.  A refusal wins; with another refusal, or a fact the
        server may refuse in its own way, any 4xx will do."""
        kinds = {self.kind, other.kind}
        if kinds == {ACCEPT}:
            return self
        if REJECT not in kinds:
            return self if self.kind == EITHER else other
        if kinds == {REJECT, ACCEPT}:
            return self if self.kind == REJECT else other
        return Expect(REJECT, why=f"{self.why}; {other.why}".strip("; "))


OK = Expect()


def refused(why: str, *statuses: int, codes: tuple[str, ...] = ()) -> Expect:
    return Expect(REJECT, frozenset(statuses), frozenset(codes), why)


def either(why: str) -> Expect:
    return Expect(EITHER, why=why)


@dataclass(frozen=True)
class Probe:
    """One request as it goes on the wire, and what the contract says of it."""

    method: str
    path: str  # percent-encoded, with its query
    headers: tuple[tuple[str, bytes], ...] = ()
    body: bytes | None = None
    expect: Expect = OK
    # A submit's deployment; the harness then checks what an accepted submit added.
    deployment: str | None = None
    # A submit's body as the client meant it, to read back (None: the raw text does not
    # say it exactly, e.g. after a cut or a byte that is not UTF-8).
    submitted: dict | None = None
    websocket: bool = False
    # The Host header (``~own~`` is the server's host:port, ``~port~`` its port); None: none.
    host: str | None = OWN
    # For an accepted listing: (field of the answer, most items it may hold, filters).
    listing: tuple[str, int, tuple[tuple[str, str], ...]] | None = None

    def with_header(self, name: str, value: bytes | None) -> Probe:
        if value is None:
            return self
        return replace(self, headers=(*self.headers, (name, value)))


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    first_frame: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


# -- sending: raw HTTP over loopback, any header, any bytes --------------------------------


# A live stream sends something within its keep-alive interval (0.05 s here); this is ample.
STREAM_WAIT_S = 3.0
# How long to look at an accepted WebSocket that may rightly stay quiet.
QUIET_WAIT_S = 0.1


def send(port: int, probe: Probe) -> Answer:
    """One request on a fresh connection; of a stream or an upgrade, only the start is read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(probe.method, probe.path, skip_host=True, skip_accept_encoding=True)
        for name, value in probe.headers:
            conn.putheader(name, value)
        if probe.body is not None:
            conn.putheader("Content-Length", str(len(probe.body)))
        conn.endheaders(probe.body)
        resp = conn.getresponse()
        content_type = resp.getheader("Content-Type") or ""
        if resp.status == 101:
            # Silence is fine on an accepted socket; a refusal's close comes at once.
            wait = QUIET_WAIT_S if probe.expect.kind == ACCEPT else STREAM_WAIT_S
            return Answer(101, content_type, b"", first_frame=first_ws_frame(resp, wait))
        if resp.status == 200 and content_type.startswith("text/event-stream"):
            return Answer(200, content_type, b"", first_frame=first_sse_line(resp))
        return Answer(resp.status, content_type, resp.read())
    finally:
        conn.close()


def _socket(resp: http.client.HTTPResponse) -> Any:
    assert resp.fp is not None
    return resp.fp.raw._sock  # type: ignore[attr-defined]


def first_ws_frame(resp: http.client.HTTPResponse, wait: float) -> bytes:
    """The start of the first WebSocket frame after an upgrade; b"" if none comes in time."""
    _socket(resp).settimeout(wait)
    try:
        assert resp.fp is not None
        head = resp.fp.read(2)
        size = head[1] & 0x7F if len(head) == 2 else 0
        return head + (resp.fp.read(size) if size < 126 else b"")
    except TimeoutError:
        return b""


def first_sse_line(resp: http.client.HTTPResponse) -> bytes:
    """The first event, comment or keep-alive line of an SSE stream, else why there is none."""
    _socket(resp).settimeout(STREAM_WAIT_S)
    try:
        while True:
            line = resp.readline()
            if not line:
                return b"<the stream ended>"
            if line.startswith((b":", b"data:", b"id:", b"event:")):
                return line
    except TimeoutError:
        return b"<no event nor keep-alive>"
    except http.client.IncompleteRead:
        return b"<the stream broke off>"


# Close codes of a refused WebSocket: 1008 (bad since), 4404 (unknown task).
REFUSAL_CLOSE_CODES = (b"\x03\xf0", b"\x11\x34")
WS_HEADERS = (
    ("Upgrade", b"websocket"),
    ("Connection", b"Upgrade"),
    ("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", b"13"),
)


# -- the state each example starts from, and what "nothing changed" means ------------------


@dataclass(frozen=True)
class Seeded:
    """The seed state's tasks: lane a has an active and two waiting ones, b a canceled one,
    prod-eu one with dedupeKey k1; lane p:q is paused.  Probes name them by ``ref``."""

    active: str
    waiting: str
    last: str
    canceled: str
    deduped: str


REFS = ("active", "waiting", "last", "canceled", "deduped")
# Lane a's tasks, all queued: what the listing of lane a holds.
LANE_A_TASKS = 3


def ref(name: str) -> str:
    """A placeholder for a seeded task's id (ids are random, so they are named, not drawn)."""
    return f"~{name}~"


def seed_state(svc: Service, client: redis.Redis) -> Seeded:
    client.flushdb()
    a = [svc.submit("a", "noop").id for _ in range(LANE_A_TASKS)]
    canceled = svc.submit("b", "noop").id
    svc.cancel(canceled)
    deduped = svc.submit("prod-eu", "echo", {"lines": ["x"]}, dedupe_key="k1").id
    svc.pause("p:q")
    return Seeded(a[0], a[1], a[2], canceled, deduped)


@dataclass(frozen=True)
class Snapshot:
    counts: str  # /stats byStatus, byType, byPriority
    newest: tuple[str, ...]  # ids of /tasks, newest first
    digest: str  # every Redis key without a TTL, with its value

    @property
    def total(self) -> int:
        return sum(json.loads(self.counts)["byStatus"].values())


def observe(api: Api, client: redis.Redis) -> Snapshot:
    stats = api.get("/stats")
    assert stats.status_code == 200, f"GET /stats answered {stats.status_code}: {stats.text}"
    listing = api.get("/tasks?limit=50")
    assert listing.status_code == 200, f"GET /tasks answered {listing.status_code}: {listing.text}"
    counts = {k: stats.json()[k] for k in ("byStatus", "byType", "byPriority")}
    return Snapshot(
        json.dumps(counts, sort_keys=True),
        tuple(t["id"] for t in listing.json()["tasks"]),
        redis_digest(client),
    )


Image = list[tuple[bytes, int, bytes]]


def redis_image(client: redis.Redis) -> Image:
    """Every key as (name, ms to live or 0 for none, DUMP), in name order."""
    names = sorted(client.scan_iter(count=1000))
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.pttl(name)
            pipe.dump(name)
        replies = pipe.execute()
    return [
        (name, max(ttl, 0), dumped)
        for name, ttl, dumped in zip(names, replies[::2], replies[1::2])
        if dumped is not None
    ]


def restore_image(client: redis.Redis, image: Image) -> None:
    with client.pipeline(transaction=True) as pipe:
        pipe.flushdb()
        for name, ttl, dumped in image:
            pipe.restore(name, ttl, dumped)
        pipe.execute()


# How to read each kind of key in a form that does not depend on its internal encoding:
# DUMP does (a set's hash table is dumped in bucket order, which a RESTORE may change).
READERS: dict[bytes, Callable[[Any, bytes], Any]] = {
    b"string": lambda pipe, name: pipe.get(name),
    b"list": lambda pipe, name: pipe.lrange(name, 0, -1),
    b"set": lambda pipe, name: pipe.smembers(name),
    b"zset": lambda pipe, name: pipe.zrange(name, 0, -1, withscores=True),
    b"hash": lambda pipe, name: pipe.hgetall(name),
    b"stream": lambda pipe, name: pipe.xrange(name),
}


def redis_digest(client: redis.Redis) -> str:
    """A hash of every key and its value, leaving out keys with a TTL.

    Those expire on their own (dedupe cooldowns, ended streams), so they
    could change between two snapshots with no request in between.
    """
    names = sorted(client.scan_iter(count=1000))
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.type(name)
            pipe.pttl(name)
        kinds = pipe.execute()
    kept = [(name, kind) for name, kind, ttl in zip(names, kinds[::2], kinds[1::2]) if ttl == -1]
    with client.pipeline(transaction=False) as pipe:
        for name, kind in kept:
            READERS[kind](pipe, name)
        values = pipe.execute()
    digest = hashlib.sha256()
    for (name, kind), value in zip(kept, values):
        if isinstance(value, (set, dict)):
            value = sorted(value.items() if isinstance(value, dict) else value)
        digest.update(repr((name, kind, value)).encode())
    return digest.hexdigest()


# -- judging an answer ---------------------------------------------------------------------


def check_error_shape(answer: Answer) -> None:
    assert answer.content_type.startswith("application/json"), answer
    doc = json.loads(answer.body)
    assert isinstance(doc, dict) and set(doc) == {"error"}, doc
    error = doc["error"]
    assert isinstance(error, dict) and set(error) <= {"code", "message", "field"}, doc
    assert isinstance(error.get("code"), str) and re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), (
        doc
    )
    assert isinstance(error.get("message"), str) and error["message"].strip(), doc
    assert isinstance(error.get("field", ""), str), doc


def check_expectation(probe: Probe, answer: Answer) -> None:
    expect = probe.expect
    if expect.kind == ACCEPT:
        assert answer.status < 400, f"the contract accepts this request: {expect.why or probe}"
    if expect.kind == REJECT:
        if answer.status == 101 and probe.websocket:
            # A refused WebSocket may be closed right after the upgrade, before any event.
            frame = answer.first_frame
            assert frame[:1] == b"\x88" and frame[2:4] in REFUSAL_CLOSE_CODES, (
                f"upgraded, not refused ({expect.why}): first frame {frame!r}"
            )
            return
        assert 400 <= answer.status < 500, f"must be refused: {expect.why}"
        if expect.statuses:
            assert answer.status in expect.statuses, f"{expect.why}: {sorted(expect.statuses)}"
        if expect.codes:
            assert answer.json()["error"]["code"] in expect.codes, expect.why


def check_stream_start(answer: Answer) -> None:
    """An accepted stream must go on: a server error after the headers is still a 5xx."""
    frame = answer.first_frame
    if answer.status == 200 and answer.content_type.startswith("text/event-stream"):
        assert frame.startswith((b":", b"data:", b"id:", b"event:")), frame
    if answer.status == 101 and frame:
        assert frame[:1] in (b"\x81", b"\x88"), f"not a WebSocket frame: {frame!r}"
        assert frame[:1] == b"\x81" or frame[2:4] != b"\x03\xf3", f"closed 1011: {frame!r}"


def check_submit_accepted(
    api: Api, probe: Probe, answer: Answer, before: Snapshot, after: Snapshot
) -> None:
    """201 adds exactly the task sent; 200 returns an earlier one and adds nothing."""
    doc = answer.json()
    task = doc["task"]
    if answer.status == 201:
        assert doc["deduplicated"] is False, doc
        assert after.digest != before.digest, "an accepted task left Redis as it was"
        assert after.total == before.total + 1, (before.counts, after.counts)
        assert after.newest[:1] == (task["id"],), (task["id"], after.newest[:3])
    else:
        assert answer.status == 200 and doc["deduplicated"] is True, doc
        assert (after.counts, after.newest) == (before.counts, before.newest)
        assert task["id"] in before.newest
    if probe.submitted is None:
        return
    stored = api.task(task["id"])
    sent = probe.submitted
    assert stored["deployment"] == probe.deployment, (stored["deployment"], probe.deployment)
    if answer.status == 201:
        assert stored["type"] == sent["type"]
        assert stored["payload"] == (sent.get("payload") or {}), "payload changed on the way"
        assert stored["metadata"] == (sent.get("metadata") or {}), "metadata changed"
        assert stored["priority"] == (sent.get("priority") or "medium")


def check_listing(
    answer: Answer, name: str, most: int, filters: tuple[tuple[str, str], ...]
) -> None:
    items = answer.json()[name]
    assert len(items) <= most, f"{len(items)} {name}, asked for at most {most}"
    for key, value in filters:
        assert all(item[key] == value for item in items), (key, value)


def check_unchanged(api: Api, client: redis.Redis, probe: Probe, before: Snapshot) -> None:
    """A refused request or a read left every key, and so every view of them, as it was.

    A refused write is compared through ``/stats`` and ``/tasks`` too. A read
    is compared by its digest alone: those views are read from the same
    keys, and asking for them after every read would double an example's time.
    """
    if probe.method != "GET" or redis_digest(client) != before.digest:
        assert observe(api, client) == before, "a refused request or a read changed the state"


def run_probe(api: Api, client: redis.Redis, port: int, probe: Probe, before: Snapshot) -> Answer:
    """Sends one probe to the state ``before`` shows and holds the answer to every property."""
    answer = send(port, probe)
    assert answer.status < 500, f"{answer.status} {answer.body[:500]!r}"
    if 400 <= answer.status < 500:
        check_error_shape(answer)
    check_expectation(probe, answer)
    check_stream_start(answer)
    if answer.status >= 400 or probe.method == "GET":
        check_unchanged(api, client, probe, before)
    elif probe.deployment is not None:
        check_submit_accepted(api, probe, answer, before, observe(api, client))
    if probe.listing is not None and answer.status == 200:
        check_listing(answer, *probe.listing)
    return answer


class Harness:
    """The server, its Redis, and a way to run one example from the seed state.

    The seed state is built once through the service, then restored key by
    key (DUMP/RESTORE) before every example: the same task ids each time,
    and one round trip instead of a dozen.
    """

    def __init__(self, base_url: str, svc: Service, redis_url: str, token: str | None = None):
        self.api = Api(base_url, token)
        self.port = urlsplit(base_url).port or 80
        self.client = redis.Redis.from_url(redis_url)
        self.seeded = seed_state(svc, self.client)
        self.image = redis_image(self.client)
        self.before = observe(self.api, self.client)
        restore_image(self.client, self.image)
        assert observe(self.api, self.client) == self.before, "the seed state does not restore"

    def run(self, probe: Probe) -> Answer:
        """From the seed state, with the probe's placeholders filled in."""
        restore_image(self.client, self.image)
        path = probe.path
        for name in REFS:
            path = path.replace(ref(name), getattr(self.seeded, name))
        headers = tuple((name, self.fill(value)) for name, value in probe.headers)
        if probe.host is not None:
            headers = (("Host", self.fill(probe.host.encode())), *headers)
        probe = replace(probe, path=path, headers=headers)
        return run_probe(self.api, self.client, self.port, probe, self.before)

    def fill(self, value: bytes) -> bytes:
        return value.replace(OWN.encode(), b"127.0.0.1:~port~").replace(
            b"~port~", str(self.port).encode()
        )
