"""Bearer tokens, checked before any view runs.

Tokens come from the settings: ``api_tokens`` may do everything,
``read_tokens`` may only read.  With none configured the server is meant to
listen on loopback only (``gunicorn_conf`` refuses otherwise); as a second
line of defence, requests from anywhere else are refused here too.
"""

from __future__ import annotations

import hmac

from flask import Flask, g, request

from ..errors import Forbidden, Unauthorized
from ..loopback import is_loopback_peer
from ..settings import Settings
from . import get_settings

# Paths anyone may call: health checks carry no data and must work without a token.
OPEN_PATHS = frozenset({"/healthz", "/"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FULL, READ = "full", "read"


def init_app(app: Flask) -> None:
    app.before_request(authorize)


def authorize() -> None:
    """Raises Unauthorized or Forbidden unless the request may go on."""
    if request.path in OPEN_PATHS:
        return
    settings = get_settings()
    if not settings.auth_required:
        if not is_loopback_peer(request.remote_addr):
            raise Forbidden("without API tokens configured, jobsvc serves loopback clients only")
        return
    token = presented_token()
    found = scope_of(token, settings) if token else None
    if found is None:
        raise Unauthorized("a valid API token is required: Authorization: Bearer <token>")
    scope, g.token_name = found
    if scope == READ and request.method not in READ_METHODS:
        raise Forbidden("this token is read-only")


def presented_token() -> str | None:
    """The Bearer token of the Authorization header, else ``?token=``.

    The query form exists for WebSocket clients, which cannot set headers.
    """
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    return request.args.get("token")


def scope_of(token: str, settings: Settings) -> tuple[str, str] | None:
    """(scope, token name) of a known token, else None.

    Every configured token is compared, in constant time, so the answer's
    timing says nothing about which tokens exist.
    """
    presented = token.encode()
    found: tuple[str, str] | None = None
    for scope, tokens in ((READ, settings.read_tokens), (FULL, settings.api_tokens)):
        for known, name in tokens.items():
            if hmac.compare_digest(presented, known.encode()):
                found = (scope, name)
    return found

