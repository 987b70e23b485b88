"""`jobsvc deliverer`: sends the webhook deliveries the transitions recorded.

A process of its own rather than jobs on RQ's maintenance queue: a slow or
dead receiver then holds only this process's threads (a try may wait 10 s),
never a worker a task is waiting for, and its pace does not depend on how
busy the workers are (docs/webhooks.md argues it).

The loop leases what is due (``hook_take.lua``: a lease as long as a try's
timeout and a margin, and a fence), hands each to a small thread pool that
POSTs it, and records each try's end (``hook_end.lua``, fence checked).
Any number of deliverers may run on one Redis: a lease is taken by one.
A deliverer killed mid-send leaves its leases to run out; then another (or
its successor) sends those deliveries again: at least once.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis

from ..settings import Settings
from ..store import TaskStore, open_store
from ..store.hooks import Leased
from .config import Subscription
from .model import render_body
from .sender import send

log = logging.getLogger("jobsvc.deliverer")

# Sends at once per deliverer process.
THREADS = 8
# A lease outlasts a try's timeout by this much, in seconds.
LEASE_MARGIN_S = 5.0
# Longest wait between two looks for due deliveries, in seconds (a new delivery
# waits at most this long for an idle deliverer).
POLL_S = 0.2
# How long the loop waits after a Redis error before trying again, in seconds.
REDIS_RETRY_S = 1.0
# Longest delay between two tries, in seconds, however many tries came before.
BACKOFF_MAX_S = 6 * 3600.0
# Each retry's delay is the doubled backoff times a random factor in [1, 1 + JITTER].
JITTER = 0.25
_RNG = random.Random()


def retry_delay_s(base_s: float, tries: int, rng: random.Random | None = None) -> float:
    """The delay after the ``tries``-th failed try: base, 2 base, 4 base... with jitter."""
    delay: float = min(base_s * 2.0 ** (tries - 1), BACKOFF_MAX_S)
    return delay * (1.0 + JITTER * (rng or _RNG).random())


class Deliverer:
    """The loop and its thread pool; ``stop`` ends it after the tries in flight."""

    def __init__(self, store: TaskStore, settings: Settings, threads: int = THREADS):
        self.store = store
        self.settings = settings
        self.subscriptions: dict[str, Subscription] = {s.id: s for s in settings.webhooks}
        self.threads = threads
        self.lease_ms = int((settings.webhook_timeout_s + LEASE_MARGIN_S) * 1000)
        self.stop = threading.Event()
        self._free = threading.Semaphore(threads)

    def run(self) -> None:
        with ThreadPoolExecutor(self.threads, thread_name_prefix="deliver") as pool:
            while not self.stop.is_set():
                try:
                    self._round(pool)
                except redis.RedisError as exc:
                    log.warning("Redis: %s; trying again in %gs", exc, REDIS_RETRY_S)
                    self.stop.wait(REDIS_RETRY_S)

    def _round(self, pool: ThreadPoolExecutor) -> None:
        """Leases as many due deliveries as threads are free, then waits for more."""
        self._free.acquire()
        free = 1
        while self._free.acquire(blocking=False):
            free += 1
        next_due, leased = self.store.take_deliveries(free, self.lease_ms)
        for delivery in leased:
            pool.submit(self._deliver, delivery)
        for _ in range(free - len(leased)):
            self._free.release()
        if not leased:
            self.stop.wait(self._idle_s(next_due))

    def _idle_s(self, next_due: int | None) -> float:
        if next_due is None:
            return POLL_S
        return min(POLL_S, max(0.0, (next_due - self.store.redis_now_us()) / 1e6))

    def _deliver(self, delivery: Leased) -> None:
        try:
            self._try(delivery)
        except Exception:  # a lost try comes back when its lease runs out
            log.exception("delivery %s: its try could not be recorded", delivery.id)
        finally:
            self._free.release()

    def _try(self, delivery: Leased) -> None:
        sub = self.subscriptions.get(delivery.sub)
        if sub is None:
            error = f"subscription {delivery.sub} is no longer configured in the deliverer"
            self.store.end_delivery(delivery, "failed", error=error)
            return
        body = render_body(delivery.event, delivery.created_at, delivery.snapshot)
        attempt = send(sub, delivery.id, body, self.settings.webhook_timeout_s)
        if attempt.ok:
            state = self.store.end_delivery(delivery, "delivered", status_code=attempt.status_code)
        else:
            delay = retry_delay_s(self.settings.webhook_backoff_s, delivery.attempts + 1)
            state = self.store.end_delivery(
                delivery,
                "retry",
                status_code=attempt.status_code,
                error=attempt.error,
                retry_ms=int(delay * 1000),
            )
        log.info("delivery %s (%s) to %s: %s", delivery.id, delivery.event, sub.shown_url, state)


def run_deliverer(settings: Settings | None = None) -> None:
    """Runs until SIGTERM or SIGINT; the tries in flight end first (at most a timeout)."""
    settings = settings or Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    deliverer = Deliverer(open_store(settings, name="jobsvc-deliverer"), settings)

    def stop(_signum: int, _frame: object) -> None:
        deliverer.stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    if not settings.webhooks:
        log.warning("no webhook subscription is configured (JOBSVC_WEBHOOKS)")
    log.info("deliverer started: %d subscription(s)", len(settings.webhooks))
    started = time.monotonic()
    deliverer.run()
    log.info("deliverer stopped after %.0fs", time.monotonic() - started)
