"""The store's reads of tasks: one task whole, tasks as a listing shows them,
and the newest-first listings with their filters.

Mixed into ``TaskStore``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from typing import Any

from .. import keys
from ..errors import NotFound, Unreadable
from ..model import JSON_FIELDS, render_task
from ..states import Status
from .core import StoreCore
from .text import maybe_text, scored

log = logging.getLogger("jobsvc.store")

# How many index entries one listing request reads at most while filtering.
LIST_SCAN_BUDGET = 2000
# Index entries read per round trip while filtering a listing.
LIST_BATCH = 200
# A listed task (GET /tasks, a deployment's queue) carries none of its JSON
# fields (payload, metadata, progress, result, error) longer than this many
# bytes, and only its history's last LISTED_HISTORY entries: what is cut
# comes as null (history: shortened) and is named in "truncated".  GET
# /tasks/{id} has the whole task.  So 40 tasks with 200 KB payloads list in
# about 40 KB, not 8 MB.
LISTED_FIELD_MAX = 4096
LISTED_HISTORY = 20


class Reads(StoreCore):
    def _read(self, task_ids: list[str], listed: bool) -> list[dict[str, Any] | None | Unreadable]:
        """Each task's JSON (capped as LISTED_* say if ``listed``), None if
        missing, or the error of one that cannot be read."""
        if not task_ids:
            return []
        caps = [LISTED_FIELD_MAX, LISTED_HISTORY] if listed else [0, 0]
        raw = self.scripts("get_tasks", [], [*caps, ",".join(JSON_FIELDS), *task_ids])
        out: list[dict[str, Any] | None | Unreadable] = []
        for task_id, entry in zip(task_ids, raw):
            if not entry:
                out.append(None)
            elif len(entry) == 1:
                out.append(
                    Unreadable(
                        f"task {task_id} cannot be read from Redis: {entry[0]}",
                        code="task_unreadable",
                    )
                )
            else:
                flat, history, position, cut, steps = entry
                fields = dict(zip(flat[::2], flat[1::2]))
                out.append(render_task(fields, history, int(position), cut, steps))
        return out

    def get_many(self, task_ids: list[str]) -> list[dict[str, Any] | None]:
        """Tasks as a listing shows them (capped, see LISTED_FIELD_MAX).  A task
        that cannot be read is logged and comes back as None, like a missing
        one, so it never stops the others."""
        out: list[dict[str, Any] | None] = []
        for task in self._read(task_ids, listed=True):
            if isinstance(task, Unreadable):
                log.warning("%s; left out", task.message)
                task = None
            out.append(task)
        return out

    def get(self, task_id: str) -> dict[str, Any]:
        task = self._read([task_id], listed=False)[0]
        if isinstance(task, Unreadable):
            raise task
        if task is None:
            raise NotFound(f"no task {task_id!r}", code="task_not_found")
        return task

    def list_tasks(
        self,
        *,
        deployment: str | None,
        status: str | None,
        type_: str | None,
        limit: int,
        cursor: int | None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first; the cursor is the acceptance seq to continue below."""
        if deployment:
            indexes = [keys.by_deployment(deployment)]
        elif status:
            indexes = [keys.by_status(status)]
        else:
            indexes = [keys.by_status(s.value) for s in Status]
        top = f"({cursor}" if cursor is not None else "+inf"
        found: list[str] = []
        last: int | None = None
        scanned = 0
        while len(found) < limit and scanned < LIST_SCAN_BUDGET:
            batch = self._newest(indexes, top, max(limit, LIST_BATCH))
            if not batch:
                break
            ids = [tid for tid, _ in batch]
            matches = self._matching(ids, deployment, status, type_)
            for (tid, score), ok in zip(batch, matches):
                scanned += 1
                last = int(score)
                if ok:
                    found.append(tid)
                    if len(found) == limit:
                        break
            top = f"({last}"
        more = last is not None and bool(self._newest(indexes, f"({last}", 1))
        tasks = [t for t in self.get_many(found) if t is not None]
        return tasks, (last if more else None)

    def _newest(self, indexes: list[str], top: str, num: int) -> list[tuple[str, float]]:
        """The ``num`` newest (id, seq) of the union of ``indexes`` below ``top``.

        Every task is in exactly one status index, so the six of them make the
        index of all tasks; they are read in one MULTI, so a task that changes
        status meanwhile is found once.
        """
        if len(indexes) == 1:
            return scored(
                self.client.zrevrangebyscore(
                    indexes[0], top, "-inf", start=0, num=num, withscores=True
                )
            )
        with self.client.pipeline(transaction=True) as pipe:
            for index in indexes:
                pipe.zrevrangebyscore(index, top, "-inf", start=0, num=num, withscores=True)
            pages = [scored(page) for page in pipe.execute()]
        return heapq.nlargest(num, itertools.chain(*pages), key=lambda entry: entry[1])

    def _matching(
        self, ids: list[str], deployment: str | None, status: str | None, type_: str | None
    ) -> list[bool]:
        """For each id, whether the task exists and fits every filter given."""
        with self.client.pipeline(transaction=False) as pipe:
            for tid in ids:
                pipe.hmget(keys.task(tid), "deployment", "status", "type")
            # A damaged task hash answers an error in its row; the others still count.
            rows = pipe.execute(raise_on_error=False)
        wanted = (deployment, status, type_)
        return [
            isinstance(row, list)
            and row[0] is not None
            and all(w is None or w == v for w, v in zip(wanted, row))
            for row in rows
        ]

    def log(self, task_id: str) -> str:
        self.get(task_id)
        return maybe_text(self.client.get(keys.log(task_id))) or ""
