"""The task store: the one module that reads and writes task state in Redis.

Here are the transitions a caller asks for (submit, cancel, skip, requeue,
pause, an attempt's claim, output and finish); reads, lanes, figures, metrics,
repairs and upkeep are mixins beside this module, over ``core.StoreCore``.

Every state change is one Lua script (``scripts/``), so any number of web
and worker processes on any number of machines can share one Redis without
a Python lock.  After a script promotes a task, the store hands it to RQ
through the ``Dispatcher`` in the same call.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from .. import faults, keys
from ..dispatch import POPPED_FIELD
from ..errors import Conflict, DependencyRefused
from ..model import history_entry, render_task
from ..validation import Submission
from .core import lane_unreadable
from .figures import Figures
from .hooks import Hooks
from .lanes import Lanes
from .metrics import Metrics
from .offers import Offers
from .reads import Reads
from .repairs import Repairs
from .replies import Claim, Outcome, Submitted, dispatch_list, parse_reply
from .steps import Steps
from .upkeep import Upkeep

# What submit.lua says of a refused dependsOn, as the caller is told it.
DEPENDENCY_REFUSALS = {
    "unknown_dependency": "dependsOn: no task {}",
    "dependency_deadlock": (
        "dependsOn: this task would wait on task {}, which waits behind it in its lane "
        "(through dependencies or lane order): it could never start"
    ),
    # Refused as a deadlock (the contract's code): it could not be shown to start.
    "dependency_unproven": (
        "dependsOn: this task's waits reach past task {} and more than 1,000 queued tasks "
        "(through dependencies and lane order), too far to check that it could ever start"
    ),
}
# The error code each refusal is given (the contract knows these two).
DEPENDENCY_CODES = {"dependency_unproven": "dependency_deadlock"}


def accepted_task(task_id: str, sub: Submission, reply: Submitted) -> dict:
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
        "createdAt": reply.created_at,
    }
    if sub.identity:
        fields["dedupeKey"] = sub.dedupe_key or ""
    if sub.depends_on:
        fields["dependsOn"] = json.dumps(list(sub.depends_on))
    if reply.waiting_on:
        fields["waitingOn"] = reply.waiting_on
    history = [history_entry("queued", reply.created_at)]
    return render_task(fields, history, int(reply.position))


class TaskStore(Reads, Lanes, Metrics, Figures, Repairs, Offers, Upkeep, Steps, Hooks):
    """The task store: transitions here, the rest in the mixins beside this module."""

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
                        json.dumps(list(sub.depends_on)),
                    ],
                )
            )
            if reply.code == "lane_unreadable":
                raise lane_unreadable(sub.deployment)
            if reply.code in DEPENDENCY_REFUSALS:
                message = DEPENDENCY_REFUSALS[reply.code].format(reply.task_id)
                code = DEPENDENCY_CODES.get(reply.code, reply.code)
                raise DependencyRefused(message, field="dependsOn", code=code)
            if reply.code == "deduplicated":
                return self.get(reply.task_id), True
            if reply.code == "created" and reply.position == "-1":
                return self.get(task_id), False  # skipped at once: a dependency had failed
            if reply.code == "created":
                return accepted_task(task_id, sub, reply), False

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

    def requeue(self, task_id: str, from_start: bool = False) -> None:
        """Queues an ended task again; it resumes after its completed steps unless
        ``from_start`` (its steps and saved state are cleared)."""
        self.get(task_id)
        raw = self._run("requeue", [keys.task(task_id)], [task_id, "1" if from_start else "0"])
        if raw.code == "dependency_failed":
            dependency, status = raw.values
            raise Conflict(
                f"task {task_id} depends on {dependency}, which ended {status}: "
                "it could never start"
            )
        reply = Outcome.of(raw)
        if reply.code == "invalid":
            raise Conflict(
                f"only a failed or canceled task can be retried; task {task_id} is {reply.status}"
            )

    def set_paused(self, deployment: str, paused: bool) -> None:
        reply = self._run("pause", [keys.lane(deployment)], [deployment, "1" if paused else "0"])
        if reply.code == "lane_unreadable":
            raise lane_unreadable(deployment)

    # -- attempts (called by the runner in the process running the handler) ------

    def mark_popped(self, task_id: str, rq_job_key: str, worker: str) -> bool:
        """Marks a dispatch's RQ job as popped by ``worker``, before its claim:
        the reconciler tells a dispatch lost between the two by this mark."""
        return bool(self.scripts("popped", [rq_job_key], [POPPED_FIELD, worker, task_id]))

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

    def delete(self, task_id: str) -> bool:
        return bool(self.scripts("delete_task", [keys.task(task_id)], [task_id]))
