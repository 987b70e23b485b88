"""A worker's offer: the task types it runs, published so submitters know them.

Published once when the worker starts and renewed every fifth of
``JOBSVC_OFFERS_TTL_S`` (one script call, never per task), so an offer
outlives a few missed renewals and a worker gone for a TTL stops offering.
A worker offers the types of the pool it serves: a type of another pool
would wait for workers it never gets.
"""

from __future__ import annotations

import logging
import threading

import redis

from ..settings import Settings
from ..store import open_store
from ..types import registry
from ..types.offers import TypeSpec

log = logging.getLogger("jobsvc.worker")

# An offer is renewed this many times per TTL.
RENEWALS_PER_TTL = 5


def pool_types(pool: str) -> list[TypeSpec]:
    """What a worker of ``pool`` offers: every registered type placed in it."""
    return [TypeSpec.of(t) for t in registry.types() if t.pool == pool]


class Offering(threading.Thread):
    """Publishes and renews the offer until stopped; a Redis error waits for the
    next renewal (the offer outlives it).  A store of its own, like the due
    ticker's: a forking worker forks from its main thread."""

    def __init__(self, settings: Settings, pool: str):
        super().__init__(name="jobsvc-offering", daemon=True)
        self.store = open_store(settings)
        self.specs = pool_types(pool)
        self.every_s = settings.offers_ttl_s / RENEWALS_PER_TTL
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            try:
                self.store.offer_types(self.specs)
            except redis.RedisError as exc:
                log.warning("worker: could not publish its task types (%s); will retry", exc)
            if self.stopped.wait(self.every_s):
                return
