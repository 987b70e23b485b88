"""The store: the only code that talks to Redis for task state.

``tasks`` has the ``TaskStore`` (every state change is one Lua script of
``jobsvc/scripts``).  ``open_store`` is the one way a process builds one.
"""

from __future__ import annotations

from ..connection import client, resolve_url
from ..settings import Settings
from .tasks import TaskStore

__all__ = ["TaskStore", "open_store"]


def open_store(
    settings: Settings,
    url: str | None = None,
    *,
    pool_size: int | None = None,
    name: str | None = None,
) -> TaskStore:
    """A store on ``url`` (else the Redis the settings lead to), with two clients:
    jobsvc's own, which decodes to str, and RQ's, which must return bytes.

    ``pool_size`` bounds each client's connections (callers wait for a free
    one); ``name`` is the client name ``CLIENT LIST`` shows.
    """
    url = url or resolve_url(settings)
    return TaskStore(
        client(url, max_connections=pool_size, name=name),
        client(url, decode=False, max_connections=pool_size, name=name),
        settings,
    )
