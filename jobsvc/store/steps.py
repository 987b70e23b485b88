"""The store's part of multi-step tasks: an attempt's step records and its
saved ``ctx.state``, each write one Lua step fenced by the attempt's token.

Mixed into ``TaskStore``.
"""

from __future__ import annotations

import json
from typing import Any

from .. import keys
from .core import StoreCore
from .text import text


class Steps(StoreCore):
    def load_steps(self, task_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The task's step records in order (times in µs) and its saved state.

        Read without a token: it is read after the attempt's claim, and every
        earlier attempt was fenced off before that claim, so nothing older can
        change it afterwards.
        """
        raw = {text(k): text(v) for k, v in self.client.hgetall(keys.steps(task_id)).items()}
        state = json.loads(raw.pop("state", "") or "{}")
        records = [json.loads(raw[str(k)]) for k in range(1, len(raw) + 1) if str(k) in raw]
        return records, state

    def step_start(self, task_id: str, token: str, place: int, name: str, attempts: int) -> int:
        """Records one run of a step's function as started; its start (µs), or 0
        if the attempt no longer owns the task."""
        return int(
            self.scripts(
                "step_start",
                [keys.task(task_id), keys.steps(task_id)],
                [task_id, token, place, name, attempts],
            )
        )

    def step_end(
        self,
        task_id: str,
        token: str,
        place: int,
        record: dict[str, Any],
        state: str,
    ) -> bool:
        """Records how a run of a step ended (``record``: name, status, attempts,
        startedAt, result, error) with ``state``; False if the attempt no longer
        owns the task."""
        return bool(
            self.scripts(
                "step_end",
                [keys.task(task_id), keys.steps(task_id)],
                [
                    task_id,
                    token,
                    place,
                    record["name"],
                    record["status"],
                    record["attempts"],
                    record["startedAt"],
                    json.dumps(record.get("result")),
                    json.dumps(record["error"]) if record.get("error") else "",
                    state,
                ],
            )
        )

    def save_state(self, task_id: str, token: str, state: str) -> bool:
        """Saves ``ctx.state`` (JSON); False if the attempt no longer owns the task."""
        return bool(
            self.scripts(
                "save_state", [keys.task(task_id), keys.steps(task_id)], [task_id, token, state]
            )
        )
