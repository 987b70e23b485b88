"""The store's part of the reconciler's repairs: what it reads of a lane to
judge it, and the scripts that repair it, each re-checking in Lua that
nothing moved since it was read.

Mixed into ``TaskStore``.
"""

from __future__ import annotations

import json
from typing import Any

from .. import keys
from .core import StoreCore
from .text import maybe_text


class Repairs(StoreCore):
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
        error: dict[str, Any],
        backoff_ms: int,
        force: bool = False,
    ) -> str:
        return self._run(
            "reap",
            [keys.task(task_id), keys.lane(deployment), keys.lease(deployment)],
            [task_id, token, reason, json.dumps(error), backoff_ms, "1" if force else "0"],
        ).code
