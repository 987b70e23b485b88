"""What every part of the task store shares: its clients, its scripts, and
running a transition script whose promoted tasks go to RQ in the same call.

``TaskStore`` is built of mixins, each a module beside this one (reads,
lanes, figures, repairs, upkeep) over this core, so no module holds more
than one kind of work and a new kind of work gets a module of its own.
"""

from __future__ import annotations

from typing import Any

from redis import Redis

from .. import faults
from ..dispatch import Dispatcher
from ..errors import Unreadable
from ..scripts import Scripts
from ..settings import Settings
from .replies import Reply, parse_reply


def lane_unreadable(deployment: str) -> Unreadable:
    """A lane whose keys in Redis hold the wrong type (damaged by hand, or left
    by an older key layout: see `jobsvc check`)."""
    return Unreadable(
        f"lane {deployment!r} cannot be read from Redis: its data there is damaged",
        code="lane_unreadable",
    )


class StoreCore:
    def __init__(self, client: Redis, rq_client: Redis, settings: Settings):
        self.client = client
        self.settings = settings
        self.scripts = Scripts(client, settings)
        self.dispatcher = Dispatcher(rq_client)

    def _run(self, name: str, keys_: list[str], args: list[Any], replace: bool = False) -> Reply:
        """Runs a transition script and hands what it promoted to RQ
        (``replace``: over what is left of an earlier RQ job of the same id)."""
        reply = parse_reply(self.scripts(name, keys_, args))
        if reply.dispatch:
            # A crash here leaves a promoted task without an RQ job: the
            # reconciler's orphan repair (reconcile.reconcile_lane) republishes it.
            faults.point("after_promote")
        (self.dispatcher.republish if replace else self.dispatcher.publish)(reply.dispatch)
        return reply

    def redis_now_us(self) -> int:
        sec, usec = self.client.time()
        return sec * 1_000_000 + usec
