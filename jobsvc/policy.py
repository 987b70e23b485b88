"""The time rules of an attempt: how long a retry waits, and when an attempt,
or a dispatch, counts as lost.

The runner applies the backoff when an attempt fails; the reconciler applies
the rest to what it reads of a lane (``TaskStore.lane_state``).  Times of
the store are microseconds of Redis' clock.
"""

from __future__ import annotations

import random
from typing import Any

# Largest retry backoff, in seconds, however many attempts came before.
MAX_BACKOFF_S = 300.0
# RQ's own timeout is a backstop behind the runner's: it only fires if the
# runner itself is stuck, so it must come later than the task's timeout.  An
# attempt this long past its timeout is stopped by the reconciler.
RQ_TIMEOUT_GRACE_S = 60
# A dispatch younger than this is left alone: its RQ enqueue may be under way.
ORPHAN_GRACE_S = 10.0
US = 1_000_000


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
