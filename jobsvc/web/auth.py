"""Who may call: bearer tokens, or loopback mode's guards, checked before any view runs.

Tokens come from the settings: ``api_tokens`` may do everything,
``read_tokens`` may only read.  With none configured the server is meant to
listen on loopback only (``gunicorn_conf`` refuses otherwise); as a second
line of defence, requests from anywhere else are refused here too.

Loopback mode must also hold against web pages the local user visits, since
the browser reaches 127.0.0.1 for any page it shows:

- DNS rebinding: a page's own host name is made to resolve to 127.0.0.1, so
  its scripts can read the API as same-origin.  The request still names the
  page's host in ``Host``: a Host that is not a loopback name is refused
  (``bad_host``), on every path.
- Cross-site requests: any page can post a form (submit, pause, cancel, skip,
  retry) or open a WebSocket to 127.0.0.1 with no preflight, but the browser
  sends the page's ``Origin``: a WebSocket handshake, or a request that is
  not a read, carrying an Origin other than the server's own is refused
  (``cross_origin``).  Reads stay open: without CORS headers a foreign page
  cannot see the answer, and a read changes nothing.

Clients that send no Origin (curl, the CLI, Python) are not browsers and
pass.  With tokens configured neither check applies: a browser never attaches
a Bearer token by itself, so a foreign page has no credential to use, and a
server behind a proxy is reached under any host name.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import Any

from flask import Flask, g, request

from ..errors import BadHost, CrossOrigin, Forbidden, Unauthorized
from ..loopback import is_loopback_host_header, is_loopback_peer, split_host
from ..settings import Settings
from .ext import get_settings

# Paths anyone may call: health checks carry no data and must work without a token;
# the dashboard page and its files ("static") hold none either (its script passes on ?token=).
OPEN_PATHS = frozenset({"/healthz", "/"})
# Methods that only read: what a read token may do, and what a foreign page may send.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FULL, READ = "full", "read"
# A browser's WebSocket cannot send headers, but it can offer subprotocols: the page
# offers SUBPROTOCOL (the one the server picks) and BEARER_PROTOCOL + the token in
# unpadded base64url (a subprotocol must be an HTTP token: no "=", "/", "+", ",", " ").
SUBPROTOCOL = "jobsvc"
BEARER_PROTOCOL = "jobsvc.bearer."
# Ports an origin leaves out.
DEFAULT_PORTS = {"http": 80, "https": 443}
# An ``Origin`` header: scheme "://" host [":" port]; ``null`` and anything else are foreign.
_ORIGIN = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)")


def init_app(app: Flask) -> None:
    app.before_request(authorize)


def authorize() -> None:
    """Raises Unauthorized or Forbidden (or its kinds) unless the request may go on."""
    settings = get_settings()
    if not settings.auth_required:
        check_browser_safe()
    if request.path in OPEN_PATHS or request.endpoint == "static":
        return
    if not settings.auth_required:
        if not is_loopback_peer(request.remote_addr):
            raise Forbidden("without API tokens configured, jobsvc serves loopback clients only")
        return
    token = presented_token()
    found = scope_of(token, settings) if token else None
    if found is None:
        raise Unauthorized("a valid API token is required: Authorization: Bearer <token>")
    scope, g.token_name = found
    g.token_scope = scope
    if scope == READ and request.method not in READ_METHODS:
        raise Forbidden("this token is read-only")


def check_browser_safe() -> None:
    """Loopback mode: raises BadHost or CrossOrigin for what a foreign page could send."""
    host = request.headers.get("Host")
    if host is not None and not is_loopback_host_header(host):
        raise BadHost(
            f"Host {host[:100]!r} is not this machine: without API tokens jobsvc "
            "answers only requests for localhost or a loopback address"
        )
    origin = request.headers.get("Origin")
    if origin is None or (request.method in READ_METHODS and "Upgrade" not in request.headers):
        return
    own = None if host is None else origin_parts(request.scheme, host)
    if own is None or origin_of(origin) != own:
        raise CrossOrigin(
            f"a page of another origin ({origin[:100]!r}) may not do this: "
            "without API tokens only this server's own pages may"
        )


def origin_of(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an ``Origin`` header; None for ``null`` or anything malformed."""
    match = _ORIGIN.fullmatch(value)
    return None if match is None else origin_parts(match["scheme"], match["authority"])


def origin_parts(scheme: str, authority: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in, as origins compare."""
    scheme = scheme.lower()
    parsed = split_host(authority)
    if parsed is None:
        return None
    host, port = parsed
    port = DEFAULT_PORTS.get(scheme) if port is None else port
    return None if port is None else (scheme, host, port)


def presented_token() -> str | None:
    """The Bearer token of the Authorization header, else of a WebSocket
    subprotocol (``protocol_token``), else ``?token=``.

    The other two exist for WebSocket clients, which cannot set headers; a
    browser's is the subprotocol, which no access log records as it does a URL.
    """
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    return protocol_token() or request.args.get("token")


def protocol_token() -> str | None:
    """The token a ``Sec-WebSocket-Protocol`` offer carries as ``jobsvc.bearer.<base64url>``.

    An offer that does not decode is no token at all (so a 401), never an error.
    """
    offers = request.headers.get("Sec-WebSocket-Protocol", "")
    for offer in (part.strip() for part in offers.split(",")):
        if offer.startswith(BEARER_PROTOCOL):
            encoded = offer.removeprefix(BEARER_PROTOCOL)
            try:
                raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
                return raw.decode()
            except (binascii.Error, ValueError):
                return None
    return None


def caller() -> dict[str, Any]:
    """What ``authorize`` let in, as the dashboard page needs to know it: the
    scope (``full`` or ``read``: only ``full`` sees action buttons), the token's
    name, and whether tokens are required at all (without, no prompt)."""
    return {
        "scope": g.get("token_scope", FULL),
        "tokenName": g.get("token_name"),
        "authRequired": get_settings().auth_required,
    }


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
