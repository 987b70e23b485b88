"""Finding the Redis to use, opening clients to it, and showing its URL safely.

With ``JOBSVC_REDIS_URL`` set, that Redis.  Without it, the one that
``jobsvc up`` runs for the same ``JOBSVC_DATA_DIR``: it writes its URL, with
the password it generated, to ``<data dir>/redis.url`` (mode 0600), so a
second terminal of the same user finds it with no setup.

A URL may carry a password, and whoever reaches the Redis runs code as the
service's user (RQ imports any dotted function name a job names): every
URL that is printed goes through ``redacted`` first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from redis import Redis
from redis.maint_notifications import MaintNotificationsConfig
from redis.sentinel import Sentinel

from .errors import ConfigError, Unavailable
from .settings import Settings

# Seconds to wait for Redis before a request fails with 503 instead of hanging.
CONNECT_TIMEOUT_S = 3.0
SOCKET_TIMEOUT_S = 10.0
URL_FILE = "redis.url"
# Seconds a caller waits for a free connection of a bounded pool before a 503.
POOL_WAIT_S = 20.0


def url_file(data_dir: Path) -> Path:
    return data_dir / URL_FILE


def write_url_file(data_dir: Path, url: str) -> None:
    """Writes `jobsvc up`'s URL for later commands, readable by this user only (0600)."""
    fd = os.open(url_file(data_dir), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)  # the file may be left from before, with a wider mode
        f.write(url + "\n")


def redacted(url: str) -> str:
    """The URL as it may be shown: ``redis://user:***@host:6379/0``.

    The password of the userinfo (everything up to the last ``@``, in case
    it holds an unescaped one) and a ``password=`` query parameter become
    ``***``; a userinfo without a colon may be a bare password, so all of it goes.
    """
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        userinfo, _, hosts = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}:***@{hosts}" if colon else f"***@{hosts}"
    rest = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", rest)
    return f"{scheme}{sep}{rest}"


def resolve_url(settings: Settings) -> str:
    """The Redis URL to use, or Unavailable with a one-line hint."""
    if settings.redis_url:
        return settings.redis_url
    path = url_file(settings.data_dir)
    if path.exists():
        url = path.read_text().strip()
        if url and ping(url):
            return url
    raise Unavailable(
        f"no Redis: set JOBSVC_REDIS_URL, or start `jobsvc up` (data dir {settings.data_dir})"
    )


def sentinel_client(url: str, **options: object) -> Redis:
    """``redis+sentinel://h1:26379,h2:26379/<master name>[/db]`` -> the master's client.

    The client asks the sentinels again after a failover, so workers and web
    processes follow the new master without a restart.
    """
    parts = urlsplit(url)
    hosts = [
        (h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1]) if ":" in h else 26379)
        for h in parts.netloc.split("@")[-1].split(",")
    ]
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("a sentinel URL names the master: redis+sentinel://host:port/mymaster")
    db = int(path[1]) if len(path) > 1 else 0
    sentinel = Sentinel(hosts, socket_timeout=CONNECT_TIMEOUT_S)
    master: Redis = sentinel.master_for(path[0], db=db, password=parts.password, **options)
    return master


def client(
    url: str,
    *,
    decode: bool = True,
    socket_timeout: float | None = SOCKET_TIMEOUT_S,
    max_connections: int | None = None,
    name: str | None = None,
) -> Redis:
    """jobsvc's own client decodes to str; RQ needs one that returns bytes.

    With ``max_connections`` the pool blocks callers instead of opening more
    connections: the web process's relay stays within a fixed number.

    A new connection sends nothing before its first command (RESP2, no
    library name nor version, no maintenance notifications): redis-py's
    defaults add four to five round trips to each, and a forking worker's
    work-horse opens its connections anew for every task.
    """
    options: dict[str, Any] = dict(
        decode_responses=decode,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=socket_timeout,
        client_name=name,
        protocol=2,
        driver_info=None,
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )
    try:
        if url.startswith("redis+sentinel://"):
            return sentinel_client(url, **options)
        if max_connections is not None:
            pool = redis.BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=POOL_WAIT_S, **options
            )
            return redis.Redis(connection_pool=pool)
        return redis.Redis.from_url(url, health_check_interval=30, **options)
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {redacted(url)}: {exc}") from None


def check_reachable(url: str) -> None:
    """Raises redis-py's own error (refused, timed out, wrong password) unless ``url``'s
    Redis answers: a process checks once before it starts, so a wrong URL is one line
    at start-up, not a loop of retries (a running process rides out outages)."""
    client(url, socket_timeout=CONNECT_TIMEOUT_S).ping()


def ping(url: str) -> bool:
    try:
        return bool(client(url, socket_timeout=CONNECT_TIMEOUT_S).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
