"""Replies of jobsvc's own Redis client, typed as what they are.

That client decodes (``decode_responses=True``), but redis-py types its
replies ``bytes | str`` (or ``Any``) whatever the client; the store passes a
reply through one of these once instead of casting at every call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def text(value: Any) -> str:
    """A string reply (a bytes one is decoded, should a client not decode)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def maybe_text(value: Any) -> str | None:
    """A string reply that may be nil."""
    return None if value is None else text(value)


def texts(values: Iterable[Any]) -> list[str]:
    """A list (or set) of string replies."""
    return [text(value) for value in values]


def scored(pairs: Iterable[Any]) -> list[tuple[str, float]]:
    """A sorted-set range read ``withscores``: (member, score) pairs."""
    return [(text(member), float(score)) for member, score in pairs]
