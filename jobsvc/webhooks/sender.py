"""One HTTP try of a webhook delivery: ``POST``, signed, redirects not followed.

The standard library's client is enough for one POST with a timeout; its
default redirect handling is turned off, so a 3xx answer is a failed try
(Standard Webhooks: only 2xx counts) and a receiver cannot point the
deliverer at another address.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from typing import NamedTuple

from .config import Subscription
from .model import signature

# Most of an answer's body read (and dropped): enough to keep the connection sane.
ANSWER_READ_BYTES = 64 * 1024
# Longest error text kept with a delivery.
ERROR_MAX_CHARS = 300
USER_AGENT = "jobsvc-webhooks"


class Attempt(NamedTuple):
    """How one try went: ``ok`` only for a 2xx answer."""

    ok: bool
    status_code: int | None
    error: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirects)


def headers(
    sub: Subscription, msg_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The Standard Webhooks headers of one try (its timestamp is the try's own)."""
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(sub.key, msg_id, timestamp, body),
    }


def send(sub: Subscription, msg_id: str, body: bytes, timeout_s: float) -> Attempt:
    """POSTs ``body`` to the subscription's URL; never raises for what the network does."""
    request = urllib.request.Request(
        sub.url, data=body, headers=headers(sub, msg_id, body), method="POST"
    )
    try:
        with _OPENER.open(request, timeout=timeout_s) as answer:
            answer.read(ANSWER_READ_BYTES)
            code = int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        moved = ": redirects are not followed" if 300 <= exc.code < 400 else ""
        return Attempt(False, exc.code, f"HTTP {exc.code}{moved}")
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Attempt(False, None, f"{type(exc).__name__}: {reason}"[:ERROR_MAX_CHARS])
    if 200 <= code < 300:
        return Attempt(True, code, "")
    return Attempt(False, code, f"HTTP {code}")
