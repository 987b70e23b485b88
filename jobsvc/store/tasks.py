"""The task store: the one module that reads and writes task state in Redis.

Every state change is one Lua script (``scripts/``), so any number of web
and worker processes on any number of machines can share one Redis without
a Python lock.  After a script promotes a task, the store hands it to RQ
through the ``Dispatcher`` in the same call.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import secrets
from typing import Any

from redis import Redis

from .. import faults, keys
from ..dispatch import Dispatcher
from ..errors import Conflict, NotFound, Unreadable
from ..model import JSON_FIELDS, history_entry, render_summary, render_task
from ..scripts import Scripts
from ..settings import Settings
from ..states import Status
from ..validation import Submission
from .offers import Offers
from .replies import Claim, Outcome, Reply, Submitted, dispatch_list, parse_reply
from .text import maybe_text, scored, texts
from .upkeep import Upkeep

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


def accepted_task(task_id: str, sub: Submission, created_at: str, position: str) -> dict:
    """The Task JSON of a task just accepted, as get_tasks.lua would read it back."""
    fields = {
        "id": task_id,
        "deployment": sub.deployment,
        "type": sub.type,
        "status": "queued",
        "priority": sub.priority,
        "payload": json.dumps(sub.payload),
        "metadata": json.dumps(sub.metadata),
        "cooldownS": str(sub.cooldown_s),
        "maxRetries": str(sub.max_retries),
        "timeoutS": str(sub.timeout_s),
        "retryCount": "0",
        "createdAt": created_at,
    }
    if sub.identity:
        fields["dedupeKey"] = sub.dedupe_key or ""
    return render_task(fields, [history_entry("queued", created_at)], int(position))


def _nonzero(table: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """A byType / byPriority table without its zero counts, nor names left with none."""
    out = {name: {s: n for s, n in counts.items() if n > 0} for name, counts in table.items()}
    return {name: counts for name, counts in out.items() if counts}


def lane_unreadable(deployment: str) -> Unreadable:
    """A lane whose keys in Redis hold the wrong type (damaged by hand, or left
    by an older key layout: see `jobsvc check`)."""
    return Unreadable(
        f"lane {deployment!r} cannot be read from Redis: its data there is damaged",
        code="lane_unreadable",
    )


class TaskStore(Offers, Upkeep):
    def __init__(self, client: Redis, rq_client: Redis, settings: Settings):
        self.client = client
        self.settings = settings
        self.scripts = Scripts(client, settings)
        self.dispatcher = Dispatcher(rq_client)

    def _run(self, name: str, keys_: list[str], args: list[Any]) -> Reply:
        reply = parse_reply(self.scripts(name, keys_, args))
        if reply.dispatch:
            # A crash here leaves a promoted task without an RQ job: the
            # reconciler's orphan repair (reconcile.reconcile_lane) republishes it.
            faults.point("after_promote")
        self.dispatcher.publish(reply.dispatch)
        return reply

    # -- accepting and reading -------------------------------------------------

    def submit(self, sub: Submission) -> tuple[dict, bool]:
        """Returns (task JSON, deduplicated).

        A new task is rendered from the submission and the script's reply (its
        creation time and lane position), without reading it back.
        """
        while True:
            task_id = secrets.token_hex(8)
            reply = Submitted.of(
                self._run(
                    "submit",
                    [
                        keys.task(task_id),
                        keys.lane(sub.deployment),
                        keys.dedupe(sub.identity or "-"),
                    ],
                    [
                        task_id,
                        sub.deployment,
                        sub.type,
                        sub.priority,
                        sub.pool,
                        json.dumps(sub.payload),
                        json.dumps(sub.metadata),
                        sub.dedupe_key or "",
                        sub.identity or "",
                        sub.cooldown_s,
                        sub.max_retries,
                        sub.timeout_s,
                        sub.stall_s,
                    ],
                )
            )
            if reply.code == "lane_unreadable":
                raise lane_unreadable(sub.deployment)
            if reply.code == "deduplicated":
                return self.get(reply.task_id), True
            if reply.code == "created":
                return accepted_task(task_id, sub, reply.created_at, reply.position), False

    def _read(self, task_ids: list[str], listed: bool) -> list[dict | None | Unreadable]:
        """Each task's JSON (capped as LISTED_* say if ``listed``), None if
        missing, or the error of one that cannot be read."""
        if not task_ids:
            return []
        caps = [LISTED_FIELD_MAX, LISTED_HISTORY] if listed else [0, 0]
        raw = self.scripts("get_tasks", [], [*caps, ",".join(JSON_FIELDS), *task_ids])
        out: list[dict | None | Unreadable] = []
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
                flat, history, position, cut = entry
                fields = dict(zip(flat[::2], flat[1::2]))
                out.append(render_task(fields, history, int(position), cut))
        return out

    def get_many(self, task_ids: list[str]) -> list[dict | None]:
        """Tasks as a listing shows them (capped, see LISTED_FIELD_MAX).  A task
        that cannot be read is logged and comes back as None, like a missing
        one, so it never stops the others."""
        out: list[dict | None] = []
        for task in self._read(task_ids, listed=True):
            if isinstance(task, Unreadable):
                log.warning("%s; left out", task.message)
                task = None
            out.append(task)
        return out

    def get(self, task_id: str) -> dict:
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
    ) -> tuple[list[dict], int | None]:
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

    # -- user actions ------------------------------------------------------------

    def cancel(self, task_id: str) -> str:
        """Returns 'canceled' or 'requested' (a running attempt will stop)."""
        task = self.get(task_id)
        reply = Outcome.of(
            self._run(
                "cancel",
                [keys.task(task_id), keys.lease(task["deployment"])],
                [task_id, "canceled by request"],
            )
        )
        if reply.code == "ended":
            raise Conflict(f"task {task_id} has already ended ({reply.status})")
        return reply.code

    def skip(self, task_id: str) -> None:
        task = self.get(task_id)
        reply = Outcome.of(
            self._run("skip", [keys.task(task_id), keys.lane(task["deployment"])], [task_id])
        )
        if reply.code == "invalid":
            raise Conflict(
                f"only a waiting task can be skipped; task {task_id} is "
                f"{'active' if reply.status == 'queued' else reply.status}"
            )

    def requeue(self, task_id: str) -> None:
        self.get(task_id)
        reply = Outcome.of(self._run("requeue", [keys.task(task_id)], [task_id]))
        if reply.code == "invalid":
            raise Conflict(
                f"only a failed or canceled task can be retried; task {task_id} is {reply.status}"
            )

    def set_paused(self, deployment: str, paused: bool) -> None:
        reply = self._run("pause", [keys.lane(deployment)], [deployment, "1" if paused else "0"])
        if reply.code == "lane_unreadable":
            raise lane_unreadable(deployment)

    # -- deployments -------------------------------------------------------------

    def summaries(self, deployments: list[str]) -> list[dict]:
        return self.summaries_at(deployments)[1]

    def summaries_at(self, deployments: list[str]) -> tuple[str, list[dict]]:
        """(id of the dashboard feed's last entry, summaries), read in one atomic step.

        A lane that cannot be read is logged and left out: one damaged lane
        never stops a listing or a dashboard snapshot.
        """
        last, *raw = self.scripts("summaries", [keys.DASHBOARD], deployments)
        out = []
        for summary in map(render_summary, raw):
            if "unreadable" in summary:
                log.warning(
                    "lane %s cannot be read from Redis: %s; left out",
                    summary["deployment"],
                    summary["unreadable"],
                )
            else:
                out.append(summary)
        return last, out

    def summary(self, deployment: str) -> dict:
        """One lane's summary S; Unreadable if its data is damaged."""
        found = self.summaries([deployment])
        if not found:
            raise lane_unreadable(deployment)
        return found[0]

    def lane_task_ids(self, deployment: str, limit: int) -> list[str]:
        """The active task, then the waiting ones in lane order: ``limit`` at most."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hget(keys.lane(deployment), "active")
            pipe.zrange(keys.lane_queue(deployment), 0, limit - 1)
            active, waiting = pipe.execute()
        return (([active] if active else []) + waiting)[:limit]

    def deployments(self, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
        low = f"({cursor}" if cursor else "-"
        names = texts(self.client.zrangebylex(keys.DEPLOYMENTS, low, "+", start=0, num=limit + 1))
        more = len(names) > limit
        names = names[:limit]
        return names, (names[-1] if more else None)

    def busy_deployments(self) -> list[str]:
        return sorted(texts(self.client.smembers(keys.BUSY)))

    # -- figures -------------------------------------------------------------------

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

    def redis_now_us(self) -> int:
        sec, usec = self.client.time()
        return sec * 1_000_000 + usec

    # -- attempts (called by the runner in the process running the handler) ------

    def claim(self, task_id: str, worker: str, rq_job_key: str | None = None) -> Claim:
        """Starts an attempt; also deletes the RQ job that carried it, if named."""
        lease_ms = int(self.settings.lease_s * 1000)
        job_keys = [rq_job_key] if rq_job_key else []
        return Claim.of(
            parse_reply(
                self.scripts("claim", [keys.task(task_id), *job_keys], [task_id, worker, lease_ms])
            )
        )

    def heartbeat(self, deployment: str, task_id: str, token: str) -> str:
        lease_ms = int(self.settings.lease_s * 1000)
        return self.scripts(
            "heartbeat", [keys.lease(deployment), keys.task(task_id)], [token, lease_ms]
        )

    def output(self, task_id: str, token: str, kind: str, items: list[str]) -> bool:
        return bool(
            self.scripts(
                "output", [keys.task(task_id), keys.log(task_id)], [task_id, token, kind, *items]
            )
        )

    def finish(
        self,
        task_id: str,
        deployment: str,
        token: str,
        *,
        outcome: str,
        result: Any = None,
        error: dict | None = None,
        reason: str = "",
        backoff_ms: int = 0,
        retryable: bool = True,
    ) -> Outcome:
        return Outcome.of(
            self._run(
                "finish",
                [keys.task(task_id), keys.lane(deployment), keys.lease(deployment)],
                [
                    task_id,
                    token,
                    outcome,
                    json.dumps(result),
                    json.dumps(error) if error else "",
                    reason,
                    backoff_ms,
                    "1" if retryable else "0",
                ],
            )
        )

    def take_due(self, limit: int = 100) -> int:
        dispatch = dispatch_list(self.scripts("take_due", [keys.DUE], [limit]))
        if dispatch:
            faults.point("after_promote")
        self.dispatcher.publish(dispatch)
        return len(dispatch)

    # -- repairs (called by the reconcilers) -----------------------------------------

    def lane_state(self, deployment: str) -> dict[str, Any]:
        """The lane's active task as the reconciler needs to judge it."""
        active = maybe_text(self.client.hget(keys.lane(deployment), "active"))
        state: dict[str, Any] = {"deployment": deployment, "active": active}
        if active:
            fields = (
                "status",
                "token",
                "dispatchedAt",
                "dueAt",
                "timeoutS",
                "startedAt",
                "lastOutputAt",
                "lastBeatAt",
                "stallS",
                "pool",
                "priority",
                "worker",
            )
            state.update(zip(fields, self.client.hmget(keys.task(active), *fields)))
            state["leased"] = bool(self.client.exists(keys.lease(deployment)))
        return state

    def promote(self, deployment: str) -> int:
        return len(self._run("promote", [keys.lane(deployment)], [deployment]).dispatch)

    def republish(self, task_id: str, deployment: str, dispatched_at: str | None) -> bool:
        reply = self._run(
            "republish", [keys.task(task_id), keys.lane(deployment)], [task_id, dispatched_at or ""]
        )
        return reply.code == "ok"

    def reap(
        self,
        task_id: str,
        deployment: str,
        token: str,
        *,
        reason: str,
        error: dict,
        backoff_ms: int,
        force: bool = False,
    ) -> str:
        return self._run(
            "reap",
            [keys.task(task_id), keys.lane(deployment), keys.lease(deployment)],
            [task_id, token, reason, json.dumps(error), backoff_ms, "1" if force else "0"],
        ).code

    def delete(self, task_id: str) -> bool:
        return bool(self.scripts("delete_task", [keys.task(task_id)], [task_id]))
