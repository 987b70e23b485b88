"""Paging latency of a listing over HTTP: its first page against a page deep in it.

The app is served by gunicorn (one process, gthread) on loopback.  The deep
page is reached as a client reaches it, by following ``nextCursor`` from the
start (with big pages, to get there sooner); then the first page and the
deep page, at the listing's default page size, are asked for in turn on one
keep-alive connection, so both meet the same machine.  A request is timed
from sending it to the last byte of the body.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.harness import Workers, percentile, wait_for, worker_env

# Page size used to walk down to the deep page (the API's largest).
WALK_LIMIT = 500
# Seconds one request may take before the benchmark gives up on it.
REQUEST_TIMEOUT_S = 120
# Seconds the server gets to answer /healthz after it starts.
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Listing:
    """One paged listing of the HTTP API: its path and the key of its items."""

    path: str
    items: str


@dataclass(frozen=True)
class Depth:
    """Where the deep page starts, and what it took to get there."""

    cursor: str | None
    walked: int
    pages: int
    seconds: float


class Api:
    """One keep-alive HTTP connection to the app."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)

    def get(self, path: str, **query: object) -> tuple[float, dict]:
        """(seconds to the body's last byte, the JSON body); a non-200 is an error."""
        params = {k: v for k, v in query.items() if v is not None}
        target = f"{path}?{urlencode(params)}" if params else path
        start = time.perf_counter()
        self.conn.request("GET", target)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"GET {target}: {response.status} {body[:300]!r}")
        return elapsed, json.loads(body)

    def close(self) -> None:
        self.conn.close()


@contextmanager
def serve(app: str, port: int, redis_url: str, log_dir: Path) -> Iterator[Api]:
    """gunicorn serving ``app`` (``module:factory()``) on loopback, and a connection to it."""
    argv = [
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        app,
    ]
    with Workers(log_dir) as procs:
        procs.start("web", argv, worker_env(redis_url))
        api = Api(port)
        up = wait_for(lambda: _healthy(api) or bool(procs.failed()), START_TIMEOUT_S, 0.2)
        if not up or procs.failed():
            raise RuntimeError(f"the web server did not start\n{procs.logs_tail()}")
        try:
            yield api
        finally:
            api.close()


def _healthy(api: Api) -> bool:
    try:
        api.get("/healthz")
        return True
    except (OSError, RuntimeError, ValueError):
        api.close()  # a refused connection is reopened by the next request
        return False


def walk_to(api: Api, listing: Listing, depth: int) -> Depth:
    """Follows nextCursor until ``depth`` items lie behind; the cursor there."""
    cursor: str | None = None
    walked = pages = 0
    start = time.perf_counter()
    while walked < depth:
        _, body = api.get(listing.path, limit=min(WALK_LIMIT, depth - walked), cursor=cursor)
        walked += len(body[listing.items])
        pages += 1
        if body["nextCursor"] is None:
            break
        cursor = body["nextCursor"]
    return Depth(cursor, walked, pages, time.perf_counter() - start)


def first_and_deep(api: Api, listing: Listing, cursor: str | None, samples: int) -> dict:
    """p50/p99 (ms) of the first page and of the page at ``cursor``, asked in turn,
    and how many items the deep page held (a full page, or the walk fell short)."""
    first: list[float] = []
    deep: list[float] = []
    deep_items = 0
    for i in range(samples):
        order = (
            (("first", None), ("deep", cursor))
            if i % 2 == 0
            else (("deep", cursor), ("first", None))
        )
        for which, at in order:
            seconds, body = api.get(listing.path, cursor=at)
            (first if which == "first" else deep).append(seconds * 1000)
            if which == "deep":
                deep_items = len(body[listing.items])
    return {
        "first_p50": percentile(first, 50),
        "first_p99": percentile(first, 99),
        "deep_p50": percentile(deep, 50),
        "deep_p99": percentile(deep, 99),
        "deep_items": deep_items,
    }
