"""The store's reads and writes of the task types workers offer (``types/offers.py``).

Mixed into ``TaskStore``: a worker publishes through it, a submitter reads
the offers back through it, and neither holds a Redis client of its own.
"""

from __future__ import annotations

import logging

from redis import Redis

from .. import keys
from ..scripts import Scripts
from ..settings import Settings
from ..types.offers import TypeSpec
from .text import text

log = logging.getLogger("jobsvc.store")


class Offers:
    client: Redis
    scripts: Scripts
    settings: Settings

    def offer_types(self, specs: list[TypeSpec]) -> int:
        """Publishes ``specs`` as offered now (one script); returns how many stale
        offers it dropped."""
        pairs = [value for spec in specs for value in (spec.name, spec.published())]
        ttl_ms = int(self.settings.offers_ttl_s * 1000)
        return int(self.scripts("offer_types", [keys.OFFERS], [ttl_ms, *pairs]))

    def offered_types(self) -> dict[str, TypeSpec]:
        """The types some worker published within ``JOBSVC_OFFERS_TTL_S`` (one round trip)."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.OFFERS)
            pipe.time()
            raw, (seconds, micros) = pipe.execute()
        oldest = seconds * 1_000_000 + micros - int(self.settings.offers_ttl_s * 1_000_000)
        offered: dict[str, TypeSpec] = {}
        for name, value in raw.items():
            stamp, _, published = text(value).partition(" ")
            try:
                if int(stamp) >= oldest:
                    offered[text(name)] = TypeSpec.from_published(text(name), published, int(stamp))
            except (ValueError, TypeError, AttributeError):  # damaged: not an offer
                log.warning("offers: type %r has an unreadable offer; ignored", text(name))
        return offered
