"""Retention: ended tasks older than a number of days leave Redis, in two phases.

A task is first flagged ``staleAt``, then deleted by a later run, so a run
that comes twice in a row (a double fire, a restart) never deletes a task
the first run only just judged old enough.  Queued and running tasks are
never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..states import ENDED
from ..store import TaskStore
from ..store.upkeep import EndedTask
from ..webhooks.model import ENDED_DELIVERY_STATUSES

# Ended webhook deliveries one run looks at, per status, at most (a backlog beyond
# it is worked off by the next runs).
DELIVERIES_PER_RUN = 50_000
# Age in days of the ended tasks a retention pass deletes when none is named (the
# daily job's, `jobsvc cleanup`'s and ``Service.cleanup``'s default).
DEFAULT_DAYS = 30.0


def _ended_before(store: TaskStore, status: str, cutoff: int) -> Iterator[list[EndedTask]]:
    """Batches of the tasks of an ended status that ended before ``cutoff``, oldest first."""
    for batch in store.ended_batches(status):
        yield [task for task in batch if task.completed_at < cutoff]


def cleanup_ended(
    store: TaskStore,
    days: float,
    grace_s: float = 0.0,
    *,
    dry_run: bool = False,
    on_delete: Callable[[str], None] | None = None,
) -> tuple[int, int]:
    """Retention: returns (flagged, deleted), and names each deleted task to ``on_delete``.

    A task that ended more than ``days`` ago (and is past any cooldown) is
    first flagged ``staleAt``; one flagged at least ``grace_s`` ago is
    deleted with its history, streams, log and index entries.  The daily
    job (``crons.cleanup_job``) passes a grace of half its period, so a task
    is flagged by one run and deleted by the next, a day later; ``jobsvc
    cleanup`` deletes at once (grace 0).  ``dry_run`` writes nothing and
    counts what a run now would flag and delete (``jobsvc cleanup --dry-run``).
    Queued and running tasks are never touched (delete_task.lua refuses).
    """
    now = store.redis_now_us()
    cutoff = now - int(days * 86_400 * 1_000_000)
    limit = now - grace_s * 1_000_000
    flagged = deleted = 0
    for status in sorted(s.value for s in ENDED):
        for batch in _ended_before(store, status, cutoff):
            stale_at, newly = _flag(store, batch, now, dry_run)
            flagged += newly
            for task_id, at in stale_at.items():
                if at <= limit and (dry_run or store.delete(task_id)):
                    deleted += 1
                    if on_delete is not None:
                        on_delete(task_id)
    return flagged, deleted


def _flag(
    store: TaskStore, batch: list[EndedTask], now: int, dry_run: bool
) -> tuple[dict[str, int], int]:
    """(each task's staleAt once flagged, how many were flagged now); a dry run
    judges as flag_stale.lua would and writes nothing."""
    stale_at: dict[str, int] = {}
    newly = 0
    for task in batch:
        if task.stale_at is not None:
            stale_at[task.id] = task.stale_at
        elif task.cooldown_until <= now and (dry_run or store.flag_stale(task.id, now)):
            stale_at[task.id] = now
            newly += 1
    return stale_at, newly


def cleanup_deliveries(store: TaskStore, retention_s: float) -> int:
    """Deletes delivered and failed webhook deliveries that ended more than
    ``retention_s`` ago (JOBSVC_WEBHOOK_RETENTION_S), oldest first, at most
    DELIVERIES_PER_RUN looked at per status; pending ones are never touched.
    Returns how many were deleted."""
    cutoff = store.redis_now_us() - int(retention_s * 1_000_000)
    dropped = 0
    for status in ENDED_DELIVERY_STATUSES:
        for ids in store.ended_delivery_ids(status, DELIVERIES_PER_RUN):
            dropped += store.drop_deliveries(ids, cutoff)
    return dropped
