"""The raw-RQ side's job functions, importable by dotted path (``bench.rqjobs.noop``).

They live in a module of their own so ``rq worker`` imports them the way it
imports any user code: by the dotted path stored in the job, JSON-serialized.
"""

from __future__ import annotations

from rq import get_current_job

# List the latency job pushes "<job id> <Redis time in µs>" onto when it starts.
STARTED_KEY = "bench:started"


def noop() -> None:
    return None


def record_start() -> None:
    """Stamps its start with Redis' clock, the clock the enqueue time was read from."""
    job = get_current_job()
    assert job is not None
    sec, usec = job.connection.time()
    job.connection.rpush(STARTED_KEY, f"{job.id} {sec * 1_000_000 + usec}")
