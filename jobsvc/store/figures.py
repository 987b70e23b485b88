"""The store's figures: counts by status, type and priority, and which worker
runs which task (``GET /stats``).

Mixed into ``TaskStore``.
"""

from __future__ import annotations

from typing import Any

from .. import keys
from ..states import Status
from .core import StoreCore
from .text import maybe_text, texts


def _nonzero(table: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """A byType / byPriority table without its zero counts, nor names left with none."""
    out = {name: {s: n for s, n in counts.items() if n > 0} for name, counts in table.items()}
    return {name: counts for name, counts in out.items() if counts}


class Figures(StoreCore):
    def counts(self) -> dict[str, Any]:
        """byStatus from the status indexes; byType and byPriority from the
        counters, whose ``active`` bucket (queued and running together) is split
        by the running tasks' own type and priority: those are few (one per
        busy worker), and a claim then moves no counter.  Read in one MULTI, so
        the figures agree with each other."""
        with self.client.pipeline(transaction=True) as pipe:
            for s in Status:
                pipe.zcard(keys.by_status(s.value))
            pipe.hgetall(keys.COUNTS)
            pipe.zcount(keys.COOLDOWN, f"({self.redis_now_us()}", "+inf")
            pipe.zrange(keys.by_status(Status.RUNNING.value), 0, -1)
            *by_status, raw, cooling, running = pipe.execute()
        table: dict[str, dict[str, dict[str, int]]] = {"type": {}, "priority": {}}
        for name, value in raw.items():
            kind, bucket, what = keys.parse_count(name)
            table[kind].setdefault(what, {})[bucket] = int(value)
        for row in self._types_and_priorities(texts(running)):
            for kind, what in zip((keys.COUNT_BY_TYPE, keys.COUNT_BY_PRIORITY), row):
                counts = table[kind].setdefault(what, {})
                counts[Status.RUNNING.value] = counts.get(Status.RUNNING.value, 0) + 1
        for by_name in table.values():
            for counts in by_name.values():
                active = counts.pop(keys.ACTIVE_BUCKET, 0)
                counts[Status.QUEUED.value] = active - counts.get(Status.RUNNING.value, 0)
        return {
            "byStatus": {s.value: n for s, n in zip(Status, by_status)},
            "byType": _nonzero(table["type"]),
            "byPriority": _nonzero(table["priority"]),
            "inCooldown": cooling,
        }

    def _types_and_priorities(self, task_ids: list[str]) -> list[list[str]]:
        """[type, priority] of each task (both never change once it is accepted)."""
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hmget(keys.task(task_id), "type", "priority")
            return [row for row in pipe.execute() if row[0] is not None]

    def running_by_worker(self) -> dict[str, str]:
        """{worker name: id of the task it runs}, from the running tasks' claims."""
        running = texts(self.client.zrange(keys.by_status(Status.RUNNING.value), 0, -1))
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in running:
                pipe.hget(keys.task(task_id), "worker")
            workers = [maybe_text(w) for w in pipe.execute()]
        return {w: t for t, w in zip(running, workers) if w}
