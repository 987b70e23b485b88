"""Webhook subscriptions, from ``JOBSVC_WEBHOOKS`` and ``JOBSVC_WEBHOOKS_FILE``.

Each entry is ``{"url", "secret": "whsec_<base64>", "events": [...],
"deployments": ["prod-*"]}``; both sources add up.  Everything is checked at
start, so a bad entry stops the process with one line naming the entry and
the field, instead of deliveries that fail later.  A subscription's id is
derived from its URL, so it stays the same across restarts and processes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError

# The transitions a subscription may name (the contract's five).
EVENTS = ("task.started", "task.completed", "task.failed", "task.canceled", "task.skipped")
SECRET_PREFIX = "whsec_"
# Standard Webhooks: a key of at least 24 bytes, at most 64.
SECRET_MIN_BYTES, SECRET_MAX_BYTES = 24, 64
# A deployment glob: a deployment's characters, plus * (any run) and ? (one character).
GLOB_RE = re.compile(r"[A-Za-z0-9._:*?-]{1,128}")
# Hex digits of sha256(url) that name a subscription.
ID_HEX = 12
FIELDS = frozenset({"url", "secret", "events", "deployments"})


@dataclass(frozen=True)
class Subscription:
    """One configured receiver.  ``shown_url`` is the URL without a password
    (what Redis, scripts and listings hold); ``url`` is used to send only."""

    id: str
    url: str
    shown_url: str
    key: bytes
    events: frozenset[str]
    deployments: tuple[str, ...]

    def lua_patterns(self) -> list[str]:
        """The deployment globs as anchored Lua patterns (what the scripts match)."""
        return [glob_to_lua(g) for g in self.deployments]


def glob_to_lua(glob: str) -> str:
    """``prod-*`` -> ``^prod%-.*$``: every character but ``*``/``?`` escaped."""
    out = []
    for ch in glob:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch.isalnum():
            out.append(ch)
        else:
            out.append("%" + ch)
    return "^" + "".join(out) + "$"


def shown(url: str) -> str:
    """The URL with the password of its user part masked (listings, Redis)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def subscription_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:ID_HEX]


def _fail(where: str, field: str, why: str) -> ConfigError:
    return ConfigError(f"{where}: field {field!r} {why}")


def _url(entry: Mapping[str, Any], where: str) -> str:
    url = entry.get("url")
    if not isinstance(url, str) or not url:
        raise _fail(where, "url", "must be an http or https URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise _fail(where, "url", f"is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(where, "url", "must be an http or https URL with a host")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise _fail(where, "url", "must not contain spaces or control characters")
    return url


def _key(entry: Mapping[str, Any], where: str) -> bytes:
    secret = entry.get("secret")
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise _fail(where, "secret", f"must be {SECRET_PREFIX}<base64 of the key>")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise _fail(where, "secret", f"is not valid base64 after {SECRET_PREFIX}") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise _fail(
            where, "secret", f"must hold {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes of key"
        )
    return key


def _events(entry: Mapping[str, Any], where: str) -> frozenset[str]:
    events = entry.get("events")
    if not isinstance(events, list) or not events:
        raise _fail(where, "events", f"must be a non-empty list of {', '.join(EVENTS)}")
    for event in events:
        if event not in EVENTS:
            raise _fail(where, "events", f"names {event!r}, not one of {', '.join(EVENTS)}")
    return frozenset(events)


def _deployments(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    globs = entry.get("deployments", ["*"])
    if not isinstance(globs, list) or not globs:
        raise _fail(where, "deployments", "must be a non-empty list of globs (omit it for all)")
    for glob in globs:
        if not isinstance(glob, str) or not GLOB_RE.fullmatch(glob):
            raise _fail(where, "deployments", f"has {glob!r}: a glob of [A-Za-z0-9._:-], * and ?")
    return tuple(globs)


def parse_entry(entry: Any, where: str) -> Subscription:
    """One subscription, or a ConfigError naming ``where`` and the field."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a JSON object")
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise _fail(where, unknown[0], f"is unknown (known: {', '.join(sorted(FIELDS))})")
    url = _url(entry, where)
    return Subscription(
        id=subscription_id(url),
        url=url,
        shown_url=shown(url),
        key=_key(entry, where),
        events=_events(entry, where),
        deployments=_deployments(entry, where),
    )


def _sources(env: Mapping[str, str]) -> list[tuple[str, str]]:
    sources = [("JOBSVC_WEBHOOKS", env.get("JOBSVC_WEBHOOKS", ""))]
    path = env.get("JOBSVC_WEBHOOKS_FILE")
    if path:
        try:
            sources.append((f"JOBSVC_WEBHOOKS_FILE ({path})", Path(path).read_text()))
        except OSError as exc:
            raise ConfigError(f"JOBSVC_WEBHOOKS_FILE: {exc}") from None
    return sources


def parse_webhooks(env: Mapping[str, str]) -> tuple[Subscription, ...]:
    """Every subscription of both sources; one URL may be subscribed once."""
    subs: list[Subscription] = []
    for name, raw in _sources(env):
        try:
            data = json.loads(raw) if raw.strip() else []
        except ValueError as exc:
            raise ConfigError(f"{name} is not JSON: {exc}") from None
        if not isinstance(data, list):
            raise ConfigError(f"{name} must be a JSON list of subscriptions")
        subs += [parse_entry(entry, f"{name} entry {i + 1}") for i, entry in enumerate(data)]
    seen: set[str] = set()
    for sub in subs:
        if sub.id in seen:
            raise ConfigError(f"webhook URL {sub.shown_url} is subscribed twice: merge the entries")
        seen.add(sub.id)
    return tuple(subs)
