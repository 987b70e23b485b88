"""The time rules of an attempt: how long a retry waits, when an attempt,
or a dispatch, counts as lost, when a lane found well is looked at again, and
how long a type's attempt may run when it names no timeout (its pool's default).

The runner applies the backoff when an attempt fails; the reconciler applies
the rest to what it reads of a lane (``TaskStore.lane_state``).  Times of
the store are microseconds of Redis' clock.
"""

from __future__ import annotations

import random
from typing import Any

from .settings import DEFAULT_TIMEOUT_S, POOL_TIMEOUTS_S

# Largest retry backoff, in seconds, however many attempts came before.
MAX_BACKOFF_S = 300.0
# RQ's own timeout is a backstop behind the runner's: it only fires if the
# runner itself is stuck, so it must come later than the task's timeout.  An
# attempt this long past its timeout is stopped by the reconciler.
RQ_TIMEOUT_GRACE_S = 60
# A dispatch younger than this is left alone: its RQ enqueue may be under way.
# Also how long a popped dispatch may take to be claimed.
ORPHAN_GRACE_S = 10.0
# The longest a lane found well goes unchecked by the reconciler's index: a
# dispatch waiting in RQ is checked again after its age (the orphan grace,
# then twice, four times that, ...), at most this long after the last look.
# What such a look can find is rare (its RQ job deleted while it waited: a
# pop is marked, and the mark puts the lane in the index by itself), and at
# 100,000 waiting lanes each hour costs 28 looks a second.
RECHECK_MAX_S = 3600.0
US = 1_000_000


def pool_timeout_s(pool: str) -> int:
    """The hard timeout of a type of ``pool`` that names none: the built-in pool's
    (``standard`` 600 s, ``long`` 6 h), the standard one for any other pool."""
    return POOL_TIMEOUTS_S.get(pool, DEFAULT_TIMEOUT_S)


def backoff_ms(base_s: float, retry_count: int) -> int:
    """Exponential backoff with full jitter: uniform in [base, base * 2**retries]."""
    ceiling = min(MAX_BACKOFF_S, base_s * (2**retry_count))
    return int(random.uniform(base_s, max(base_s, ceiling)) * 1000)


def overdue(state: dict[str, Any], now_us: int, stall_s: float) -> tuple[str, str] | None:
    """(reason, message) if a live attempt is stalled or past its hard timeout.

    ``stall_s`` is the process default, used when the task names none; output
    and ``ctx.heartbeat()`` both count as signs of life.
    """
    started = int(state.get("startedAt") or now_us)
    if now_us - started > (int(state["timeoutS"]) + RQ_TIMEOUT_GRACE_S) * US:
        limit = state["timeoutS"]
        return "timeout", f"still running {RQ_TIMEOUT_GRACE_S}s past its {limit}s timeout"
    stall_s = int(state.get("stallS") or 0) or stall_s
    active = max(started, int(state.get("lastOutputAt") or 0), int(state.get("lastBeatAt") or 0))
    if now_us - active > stall_s * US:
        return "stalled", f"no output nor heartbeat for {stall_s:.0f}s"
    return None


def dispatch_settled(state: dict[str, Any], now_us: int, grace_s: float) -> bool:
    """Whether a queued active task should have reached RQ by now: not waiting out a
    retry backoff, and dispatched more than ``grace_s`` ago."""
    if state.get("dueAt") and int(state["dueAt"]) > now_us:
        return False
    return now_us - int(state.get("dispatchedAt") or 0) >= grace_s * US


def popped_lost(popped_at: int, now_us: int, grace_s: float) -> bool:
    """Whether a dispatch popped from RQ at ``popped_at`` should have been claimed
    by now: its worker died between the pop and the claim."""
    return now_us - popped_at >= grace_s * US


def dispatch_check_at(state: dict[str, Any]) -> int:
    """When a queued active task not yet settled (``dispatch_settled``) first
    could be: at its retry's due time, or its dispatch's, plus the grace."""
    start = int(state.get("dueAt") or 0) or int(state.get("dispatchedAt") or 0)
    return start + int(ORPHAN_GRACE_S * US)


def waiting_check_at(state: dict[str, Any], now_us: int, popped_at: int | None) -> int:
    """When to look again at a dispatch found alive in RQ.

    Popped: when its claim is overdue.  Waiting in its queue: after as long
    again as it has waited (at least the grace, at most ``RECHECK_MAX_S``), so
    a lane waiting in a long backlog costs a look per doubling of its wait.
    """
    if popped_at is not None:
        return popped_at + int(ORPHAN_GRACE_S * US)
    waited = now_us - int(state.get("dispatchedAt") or 0)
    return now_us + min(max(waited, int(ORPHAN_GRACE_S * US)), int(RECHECK_MAX_S * US))


def running_check_at(state: dict[str, Any], now_us: int, stall_s: float) -> int:
    """The earliest time a live attempt could be late (``overdue``) or lost:
    its lease running out unrenewed, its stall timeout after its last sign of
    life, its hard timeout's backstop."""
    started = int(state.get("startedAt") or now_us)
    stall_s = int(state.get("stallS") or 0) or stall_s
    active = max(started, int(state.get("lastOutputAt") or 0), int(state.get("lastBeatAt") or 0))
    times = [
        active + int(stall_s * US),
        started + (int(state["timeoutS"]) + RQ_TIMEOUT_GRACE_S) * US,
    ]
    lease_ms = state.get("leaseMs")
    if lease_ms is not None and lease_ms >= 0:  # PTTL: -2 no lease, -1 no TTL
        times.append(now_us + int(lease_ms) * 1000)
    return max(min(times), now_us) + 1


# -- what /metrics observes (docs/metrics.md) ----------------------------------------

# Upper bounds (seconds, inclusive) of the buckets of an attempt's run time, its
# claim to its end (``jobsvc_task_duration_seconds``): up to the long pool's 6 h.
RUN_BUCKETS_S = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 600, 1800, 3600, 7200, 21600)
# Upper bounds (seconds) of the buckets of a task's wait, its acceptance to its
# first start (``jobsvc_task_wait_seconds``).
WAIT_BUCKETS_S = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
# The repairs the scripts count (``jobsvc_repairs_total{kind}``), by kind: a lost
# dispatch handed to RQ again (republish.lua), an attempt whose lease expired, one
# stalled, one past its hard timeout (reap.lua, with ``overdue``'s reasons), an idle
# lane whose head was never promoted (promote.lua).  Scripts count no other kind.
REPAIR_KINDS = ("orphan", "worker_lost", "stalled", "timeout", "stuck_lane")
