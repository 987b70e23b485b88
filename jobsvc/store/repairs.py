"""The store's part of the reconciler: which lanes to look at (its index of
check times, the busy set), what it reads of a lane to judge it, and the
scripts that repair a lane or set its next check, each re-checking in Lua
that nothing moved since it was read.

Mixed into ``TaskStore``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .. import keys
from .core import StoreCore
from .text import maybe_text, scored, texts

# The task fields the reconciler judges an active task by.
LANE_STATE_FIELDS = (
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
# The fields of a lane's state that say which step its active task is at:
# reschedule.lua writes nothing if one of them changed since it was read.
MOVED_BY = ("status", "token", "dispatchedAt", "dueAt")


class Repairs(StoreCore):
    # -- which lanes ---------------------------------------------------------------------

    def due_checks(self, until_us: int, batch: int) -> Iterator[list[str]]:
        """Lanes whose check time is ``until_us`` or earlier, earliest first,
        ``batch`` per round trip.  Each page starts after the last one's time, so
        lanes the caller scores again meanwhile are not read twice; lanes sharing
        the exact time that ended a page wait for the next pass."""
        low = "-inf"
        while page := scored(
            self.client.zrangebyscore(
                keys.CHECKS, low, until_us, start=0, num=batch, withscores=True
            )
        ):
            yield [lane for lane, _ in page]
            low = f"({int(page[-1][1])}"

    def busy_batches(self, batch: int) -> Iterator[list[str]]:
        """Every busy lane, by SSCAN pages (a full pass: `jobsvc drain --resume`)."""
        cursor = 0
        while True:
            cursor, lanes = self.client.sscan(keys.BUSY, cursor, count=batch)
            yield texts(lanes)
            if cursor == 0:
                return

    def sweep_lanes(self, count: int) -> list[str]:
        """The next ``count`` or so busy lanes of the round-robin safety sweep."""
        return texts(self.scripts("sweep", [keys.BUSY, keys.SWEEP], [count]))

    def checks_size(self) -> int:
        """Lanes in the reconciler's index."""
        return int(self.client.zcard(keys.CHECKS))

    # -- judging ---------------------------------------------------------------------------

    def lane_state(self, deployment: str) -> dict[str, Any]:
        """The lane's active task as the reconciler needs to judge it, with its
        lease's time left (``leaseMs``, PTTL: -2 when there is none)."""
        active = maybe_text(self.client.hget(keys.lane(deployment), "active"))
        state: dict[str, Any] = {"deployment": deployment, "active": active}
        if active:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hmget(keys.task(active), *LANE_STATE_FIELDS)
                pipe.pttl(keys.lease(deployment))
                fields, lease_ms = pipe.execute()
            state.update(zip(LANE_STATE_FIELDS, fields))
            state["leaseMs"] = int(lease_ms)
            state["leased"] = state["leaseMs"] != -2
        return state

    def reschedule(self, found: list[tuple[dict[str, Any], int]]) -> int:
        """Sets each (lane state, next check time) pair's lane to be checked at
        that time, unless it moved since its state was read (then a transition
        has set it already); one script call for them all.  Returns how many
        were set."""
        if not found:
            return 0
        lane_keys = [keys.lane(state["deployment"]) for state, _ in found]
        args: list[Any] = []
        for state, at_us in found:
            seen = [state.get(name) or "" for name in MOVED_BY]
            args += [state["deployment"], state["active"] or "", *seen, at_us]
        return int(self.scripts("reschedule", lane_keys, args))

    def defer_check(self, deployment: str, at_us: int) -> None:
        """Moves the check of a lane that could not be judged (its data is
        damaged) to ``at_us``, if it is in the index, so it does not head every pass."""
        self.client.zadd(keys.CHECKS, {deployment: at_us}, xx=True)

    # -- repairs ---------------------------------------------------------------------------

    def promote(self, deployment: str) -> int:
        return len(self._run("promote", [keys.lane(deployment)], [deployment]).dispatch)

    def republish(self, task_id: str, deployment: str, dispatched_at: str | None) -> bool:
        reply = self._run(
            "republish",
            [keys.task(task_id), keys.lane(deployment)],
            [task_id, dispatched_at or ""],
            replace=True,
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
