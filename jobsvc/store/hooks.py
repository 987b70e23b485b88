"""The store's webhook deliveries: leasing and ending tries (the deliverer),
listing, redelivering, counting, and their retention.

The deliveries themselves are written by the transition scripts
(``_lib.lua``'s ``outbox``).  Mixed into ``TaskStore``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any, NamedTuple

from .. import keys
from ..errors import Conflict
from ..webhooks.model import (
    DELIVERY_STATUSES,
    ENDED_DELIVERY_STATUSES,
    LISTED_FIELDS,
    delivery_not_found,
    render_delivery,
)
from .core import StoreCore
from .text import maybe_text, scored, text

# Ended deliveries read per retention round trip.
DROP_BATCH = 500


class Leased(NamedTuple):
    """A delivery a deliverer holds the lease of, with what it needs to send it."""

    id: str
    fence: str
    event: str
    task_id: str
    sub: str
    attempts: int
    created_at: str
    snapshot: str


def _leased(row: list[str]) -> Leased:
    id_, fence, event, task_id, sub, attempts, created_at, snapshot = row
    return Leased(id_, fence, event, task_id, sub, int(attempts), created_at, snapshot)


class Hooks(StoreCore):
    def take_deliveries(self, most: int, lease_ms: int) -> tuple[int | None, list[Leased]]:
        """(when the next delivery is due, µs, or None; the deliveries leased now)."""
        raw = [text(x) for x in self.scripts("hook_take", [keys.HOOK_DUE], [most, lease_ms])]
        next_due = int(float(raw[0])) if raw[0] else None
        n, rest = int(raw[1]), raw[2:]
        return next_due, [_leased(rest[i : i + 8]) for i in range(0, n * 8, 8)]

    def end_delivery(
        self,
        leased: Leased,
        outcome: str,
        *,
        status_code: int | None = None,
        error: str = "",
        retry_ms: int = 0,
    ) -> str:
        """Records one try: 'delivered', 'retry' (in ``retry_ms``) or 'failed'.  Returns
        the delivery's new state ('delivered', 'retry', 'failed'), or 'stale' when the
        lease was lost (another deliverer has it now)."""
        reply = self.scripts(
            "hook_end",
            [keys.hook(leased.id)],
            [
                leased.id,
                leased.fence,
                outcome,
                "" if status_code is None else status_code,
                error,
                retry_ms,
                self.settings.webhook_max_attempts,
            ],
        )
        return text(reply[0])

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        row = [maybe_text(v) for v in self.client.hmget(keys.hook(delivery_id), *LISTED_FIELDS)]
        if row[0] is None:
            raise delivery_not_found(delivery_id)
        return render_delivery(delivery_id, dict(zip(LISTED_FIELDS, row)))

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        code = text(self.scripts("hook_redeliver", [keys.hook(delivery_id)], [delivery_id])[0])
        if code == "missing":
            raise delivery_not_found(delivery_id)
        if code == "pending":
            raise Conflict(f"webhook delivery {delivery_id} is pending: it is queued already")
        return self.delivery(delivery_id)

    def list_deliveries(
        self, status: str | None, limit: int, cursor: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first (by their sequence); the cursor is the seq to continue below."""
        statuses = [status] if status else list(DELIVERY_STATUSES)
        top = f"({cursor}" if cursor is not None else "+inf"
        with self.client.pipeline(transaction=True) as pipe:
            for s in statuses:
                pipe.zrevrangebyscore(
                    keys.hooks_by_status(s), top, "-inf", start=0, num=limit + 1, withscores=True
                )
            pages = [scored(page) for page in pipe.execute()]
        newest = heapq.nlargest(limit + 1, itertools.chain(*pages), key=lambda e: e[1])
        page, more = newest[:limit], len(newest) > limit
        with self.client.pipeline(transaction=False) as pipe:
            for delivery_id, _ in page:
                pipe.hmget(keys.hook(delivery_id), *LISTED_FIELDS)
            rows = pipe.execute()
        found = [
            render_delivery(delivery_id, dict(zip(LISTED_FIELDS, row)))
            for (delivery_id, _), row in zip(page, rows)
            if row[0] is not None
        ]
        return found, (int(page[-1][1]) if more and page else None)

    def webhook_counts(self) -> dict[str, int]:
        """Deliveries ended so far by status (delivered, failed): counters that never
        go down (a redelivered delivery counts again when it ends again)."""
        raw = self.client.hgetall(keys.HOOK_COUNTS)
        counts = dict.fromkeys(ENDED_DELIVERY_STATUSES, 0)
        counts.update({text(k): int(v) for k, v in raw.items()})
        return counts

    def pending_deliveries(self) -> int:
        return int(self.client.zcard(keys.hooks_by_status("pending")))

    def ended_delivery_ids(self, status: str, most: int) -> Iterator[list[str]]:
        """Ids of one ended status, oldest first, in batches, at most ``most`` in all."""
        index, low, left = keys.hooks_by_status(status), "-inf", most
        while left > 0:
            batch = scored(
                self.client.zrangebyscore(
                    index, low, "+inf", start=0, num=min(DROP_BATCH, left), withscores=True
                )
            )
            if not batch:
                return
            yield [delivery_id for delivery_id, _ in batch]
            left -= len(batch)
            low = f"({int(batch[-1][1])}"

    def drop_deliveries(self, ids: list[str], cutoff_us: int) -> int:
        """Deletes those of ``ids`` that ended before ``cutoff_us``; returns how many."""
        return int(self.scripts("hook_drop", [], [cutoff_us, *ids])) if ids else 0
