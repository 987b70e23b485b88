"""Tasks into a Redis through the real submit path: timed, or in bulk.

Both go through ``Service.submit``, one ``submit.lua`` call per task, as a
client's submit does.  Bulk loading runs that same call in parallel
processes, as fast as the path goes on this machine.  Nothing here imports
jobsvc: the caller hands over ``connect(url) -> Service`` (a module-level
function, so a spawned loader process can import it by name).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

# Tasks a loader process submits per job it is given: small enough that a
# stopped run does not wait long for the jobs under way.
LOAD_CHUNK = 5000


class Submits(Protocol):
    """What loading needs of jobsvc's Service."""

    def submit(self, deployment: str, type: str, payload: dict | None = None) -> object: ...


_services: dict[str, Submits] = {}


def lane_name(i: int) -> str:
    return f"dep-{i}"


def load_range(
    connect: Callable[[str], Submits], url: str, start: int, stop: int, lanes: int
) -> int:
    """In a loader process: tasks ``start..stop-1``, task i to lane i % lanes."""
    svc = _services.get(url) or _services.setdefault(url, connect(url))
    for i in range(start, stop):
        svc.submit(lane_name(i % lanes), "noop", {})
    return stop - start


class Loader:
    """Processes submitting tasks in bulk, kept for the whole run."""

    def __init__(self, connect: Callable[[str], Submits], processes: int):
        self.connect = connect
        self.pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))

    def load(self, url: str, start: int, stop: int, lanes: int) -> float:
        """Submits tasks ``start..stop-1``; returns the seconds it took."""
        begin = time.perf_counter()
        chunks = [(a, min(a + LOAD_CHUNK, stop)) for a in range(start, stop, LOAD_CHUNK)]
        futures = [self.pool.submit(load_range, self.connect, url, a, b, lanes) for a, b in chunks]
        for future in futures:
            future.result()
        return time.perf_counter() - begin

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def timed_submits(svc: Submits, label: str, n: int, per_lane: int) -> float:
    """Submit rate (tasks/s) of ``n`` submits into lanes of their own
    (``probe-<label>-<j>``), ``per_lane`` each, so every level of a run does
    the same work: one lane head promoted and handed to RQ per ``per_lane``."""
    start = time.perf_counter()
    for j in range(n):
        svc.submit(f"probe-{label}-{j // per_lane}", "noop", {})
    return n / (time.perf_counter() - start)
