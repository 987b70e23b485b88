"""What "this machine only" means: one rule for bind addresses, peers and Host headers.

Without API tokens jobsvc serves loopback only, and three places ask the same
question of a host: gunicorn's start hook (may it bind there?), the web app
(is the peer local? does the request's ``Host`` name this machine?) and
``jobsvc web``.  They all ask here, so they cannot drift apart.

``localhost`` counts; ``*.localhost`` does not: browsers pin those names to
loopback, but a system resolver may ask the network's DNS for them, and a
hostile DNS server could then point one at any address.  Nothing of jobsvc
needs them.
"""

from __future__ import annotations

import ipaddress
import re

LOOPBACK_NAME = "localhost"
# A Host header: a name or an IPv4 address, or an IPv6 address in brackets, then an optional port.
_HOST_HEADER = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?")


def is_loopback_host(host: str) -> bool:
    """Whether a host name or IP address reaches this machine only.

    IPv6 addresses may come with or without brackets (``[::1]``, ``::1``) and
    a zone (``::1%lo``); an IPv4-mapped loopback address (``::ffff:127.0.0.1``)
    counts.  IPv4 shorthands (``127.1``) do not: browsers never send them.
    """
    if host.lower() == LOOPBACK_NAME:
        return True
    literal = host.removeprefix("[").removesuffix("]").split("%")[0]
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def refusal(addresses: list[str]) -> str:
    """Why a server without API tokens will not listen on ``addresses`` (none loopback)."""
    return (
        f"refusing to listen on {', '.join(addresses)}: no JOBSVC_API_TOKENS configured "
        "(without tokens jobsvc listens on loopback only)"
    )


def is_loopback_peer(remote_addr: str | None) -> bool:
    """A client's address: loopback, or none at all (a Unix socket, reachable from here only)."""
    return not remote_addr or is_loopback_host(remote_addr)


def split_host(value: str) -> tuple[str, int | None] | None:
    """(host, port) of a ``Host`` header or an origin's authority; None if it is not one.

    The host comes back lower-cased, an IPv6 address without its brackets.
    Anything a browser would never send (user info, a path, two ports) is None.
    """
    match = _HOST_HEADER.fullmatch(value)
    if match is None:
        return None
    port = match["port"]
    if port is not None and not 0 < int(port) < 65536:
        return None
    host = match["host"].lower().removeprefix("[").removesuffix("]")
    return host, None if port is None else int(port)


def is_loopback_host_header(value: str) -> bool:
    """Whether a request's ``Host`` header names this machine (with or without a port)."""
    parsed = split_host(value)
    return parsed is not None and is_loopback_host(parsed[0])
