"""The app's resources, as flaskr's ``get_db``: built on first use, once per app.

Nothing is connected at import time or by ``create_app``: the Service (Redis
clients, registered scripts, the relay of live viewers) is built by the
first request that needs it, so an app whose Redis is
down still starts and answers 503 until Redis is back.  Blueprints take
them from here, never from the package's ``__init__`` (which imports them).
"""

from __future__ import annotations

import os
import threading

from flask import Flask, current_app

from ..connection import resolve_url
from ..service import Service
from ..settings import Settings

# Redis connections per pool of a web process's Service: requests beyond it wait
# for a free one, so a burst of viewers connecting cannot open hundreds.
WEB_POOL = 16
# Where the app keeps its Service and its relay (``app.extensions``), and the
# lock that builds each once.
EXTENSION = "jobsvc"
RELAY = "jobsvc.hub"
_BUILD_LOCK = "jobsvc.build_lock"


def init_app(app: Flask, settings: Settings) -> None:
    app.config.update(JOBSVC_SETTINGS=settings, MAX_CONTENT_LENGTH=settings.max_body)
    app.extensions[_BUILD_LOCK] = threading.Lock()


def get_settings() -> Settings:
    settings: Settings = current_app.config["JOBSVC_SETTINGS"]
    return settings


def get_service() -> Service:
    """The app's one Service, built on first use (and again after a failed build).

    Its relay (every live viewer of this process is fed by its hub) is also
    kept at ``app.extensions["jobsvc.hub"]``, where a shutdown finds the hub
    to stop.
    """
    app = current_app
    svc: Service | None = app.extensions.get(EXTENSION)
    if svc is None:
        with app.extensions[_BUILD_LOCK]:
            svc = app.extensions.get(EXTENSION)
            if svc is None:
                settings = get_settings()
                svc = Service(
                    resolve_url(settings),
                    settings,
                    pool_size=WEB_POOL,
                    name=f"jobsvc-web-{os.getpid()}",
                )
                app.extensions[RELAY] = svc.relay
                app.extensions[EXTENSION] = svc
    return svc


def stop_live(app: Flask) -> None:
    """Ends every live viewer of this process now, and any later one at once: the
    server is shutting down, and would otherwise wait for streams that never end."""
    relay = app.extensions.get(RELAY)
    if relay is not None:
        relay.hub.close()
