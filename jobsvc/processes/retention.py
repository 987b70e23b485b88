"""Retention: ended tasks older than a number of days leave Redis, in two phases.

A task is first flagged ``staleAt``, then deleted by a later run, so a run
that comes twice in a row (a double fire, a restart) never deletes a task
the first run only just judged old enough.  Queued and running tasks are
never touched.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import keys
from ..states import ENDED
from ..store import TaskStore

# Ended tasks deleted per cleanup batch.
CLEANUP_BATCH = 500


def _ended_before(store: TaskStore, status: str, cutoff: int) -> Iterator[list[tuple]]:
    """Batches of (id, completedAt, cooldownUntil, staleAt) of ended tasks, oldest first."""
    index, low = keys.by_status(status), "-inf"
    while batch := store.client.zrangebyscore(index, low, "+inf", start=0, num=CLEANUP_BATCH,
                                              withscores=True):
        with store.client.pipeline(transaction=False) as pipe:
            for task_id, _ in batch:
                pipe.hmget(keys.task(task_id), "completedAt", "cooldownUntil", "staleAt")
            rows = pipe.execute()
        yield [(tid, *row) for (tid, _), row in zip(batch, rows)
               if row[0] is not None and int(row[0]) < cutoff]
        low = f"({int(batch[-1][1])}"


def cleanup_ended(store: TaskStore, days: float, grace_s: float = 0.0) -> tuple[int, int]:
    """Retention: returns (flagged, deleted).

    A task that ended more than ``days`` ago (and is past any cooldown) is
    first flagged ``staleAt``; one flagged at least ``grace_s`` ago is
    deleted with its history, streams, log and index entries.  The daily
    job (``crons.cleanup_job``) passes a grace of half its period, so a task
    is flagged by one run and deleted by the next, a day later; ``jobsvc
    cleanup`` deletes at once (grace 0).
    Queued and running tasks are never touched (delete_task.lua refuses).
    """
    now = store.redis_now_us()
    cutoff = now - int(days * 86_400 * 1_000_000)
    flagged = deleted = 0
    for status in sorted(s.value for s in ENDED):
        for batch in _ended_before(store, status, cutoff):
            stale_at: dict[str, int] = {}
            for task_id, _, cooldown_until, stale in batch:
                if stale is not None:
                    stale_at[task_id] = int(stale)
                elif int(cooldown_until or 0) <= now:
                    store.client.hset(keys.task(task_id), "staleAt", now)
                    stale_at[task_id] = now
                    flagged += 1
            limit = now - grace_s * 1_000_000
            deleted += sum(store.delete(tid) for tid, at in stale_at.items() if at <= limit)
    return flagged, deleted
