"""The store's reads and writes for upkeep rather than for one task: the drain
flag, retention, `jobsvc check`, the periodic jobs' slots, health.

Mixed into ``TaskStore``, so the passes in ``processes/`` go through the
store like everything else and never hold a Redis client of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

from redis import Redis

from .. import keys
from ..scripts import Scripts
from .text import scored, text, texts

# Ended tasks read per retention batch.
ENDED_BATCH = 500


class EndedTask(NamedTuple):
    """What retention needs to know of an ended task (times in µs)."""

    id: str
    completed_at: int
    cooldown_until: int
    stale_at: int | None


class Upkeep:
    client: Redis
    scripts: Scripts

    def ping(self) -> bool:
        """True when Redis answers; raises its connection error when it does not."""
        return bool(self.client.ping())

    # -- drain -------------------------------------------------------------------------

    def set_draining(self, on: bool) -> None:
        """Every promotion, claim and retry dispatch checks this flag in its script."""
        if on:
            self.client.set(keys.DRAIN, "1")
        else:
            self.client.delete(keys.DRAIN)

    def draining(self) -> bool:
        return bool(self.client.exists(keys.DRAIN))

    def running_ids(self) -> list[str]:
        return texts(self.client.zrange(keys.by_status("running"), 0, -1))

    # -- periodic jobs -------------------------------------------------------------------

    def take_slot(self, name: str, slot: int, ttl_s: int) -> bool:
        """True for the first taker of a periodic job's run ``slot``."""
        return bool(self.client.set(keys.fire(name, slot), "1", nx=True, ex=ttl_s))

    def due_pending(self) -> bool:
        """Whether any retry still waits out its backoff, or a failed dependency's
        cascade still has dependents to skip (the ticker does both)."""
        return bool(self.client.zcard(keys.DUE) or self.client.llen(keys.CASCADE))

    # -- retention -----------------------------------------------------------------------

    def ended_batches(self, status: str) -> Iterator[list[EndedTask]]:
        """Tasks of one ended status, oldest first, ``ENDED_BATCH`` per round trip pair."""
        index, low = keys.by_status(status), "-inf"
        while batch := scored(
            self.client.zrangebyscore(index, low, "+inf", start=0, num=ENDED_BATCH, withscores=True)
        ):
            with self.client.pipeline(transaction=False) as pipe:
                for task_id, _ in batch:
                    pipe.hmget(keys.task(task_id), "completedAt", "cooldownUntil", "staleAt")
                rows = pipe.execute()
            yield [
                EndedTask(tid, int(done), int(cooling or 0), None if stale is None else int(stale))
                for (tid, _), (done, cooling, stale) in zip(batch, rows)
                if done is not None
            ]
            low = f"({int(batch[-1][1])}"

    def flag_stale(self, task_id: str, now_us: int) -> int:
        """The task's staleAt after flagging it at ``now_us``; 0 if it is not to be flagged."""
        return int(self.scripts("flag_stale", [keys.task(task_id)], [now_us]))

    # -- what `jobsvc check` reads ---------------------------------------------------------

    def redis_config(self, *names: str) -> dict[str, str]:
        """CONFIG GET of each name (a managed Redis may refuse: its error is raised)."""
        config: dict[str, str] = {}
        for name in names:
            config.update((text(k), text(v)) for k, v in self.client.config_get(name).items())
        return config

    def first_key_of_type(
        self,
        pattern: str,
        suffixes: Mapping[str, tuple[tuple[str, str], ...]],
        count: int,
        calls: int,
    ) -> str | None:
        """The first key matching ``pattern`` that starts with a prefix of ``suffixes``
        and ends in one of that prefix's suffixes with its type, found by a SCAN of at
        most ``calls`` calls (an admin command only)."""
        cursor = 0
        for _ in range(calls):
            cursor, names = self.client.scan(cursor, match=pattern, count=count)
            for name in texts(names):
                if any(
                    name.startswith(prefix)
                    and name.endswith(suffix)
                    and self.client.type(name) == kind
                    for prefix, pairs in suffixes.items()
                    for suffix, kind in pairs
                ):
                    return name
            if cursor == 0:
                return None
        return None

    def key_exists(self, key: str) -> bool:
        return bool(self.client.exists(key))

    def count_fields(self) -> list[str]:
        """The fields of ``jobsvc:counts``."""
        return texts(self.client.hkeys(keys.COUNTS))
