"""The store's reads of lanes: deployment summaries (also the dashboard's
snapshot), a lane's task ids, the deployments list, the busy lanes.

Mixed into ``TaskStore``.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import keys
from ..model import render_summary
from .core import StoreCore, lane_unreadable
from .text import text, texts

log = logging.getLogger("jobsvc.store")


class Lanes(StoreCore):
    def summaries(self, deployments: list[str]) -> list[dict[str, Any]]:
        return self.summaries_at(deployments)[1]

    def summaries_at(self, deployments: list[str]) -> tuple[str, list[dict[str, Any]]]:
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

    def summary(self, deployment: str) -> dict[str, Any]:
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
        return (([text(active)] if active else []) + texts(waiting))[:limit]

    def deployments(self, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
        low = f"({cursor}" if cursor else "-"
        names = texts(self.client.zrangebylex(keys.DEPLOYMENTS, low, "+", start=0, num=limit + 1))
        more = len(names) > limit
        names = names[:limit]
        return names, (names[-1] if more else None)

    def busy_deployments(self) -> list[str]:
        return sorted(texts(self.client.smembers(keys.BUSY)))
