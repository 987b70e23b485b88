"""The HTTP API: a Flask app factory, as in Flask's tutorial.

Nothing is connected at import time.  ``create_app`` only wires the error
handler, auth and the blueprints; the Service (Redis clients, registered
scripts) is built by the first request that needs one, once per app, so an
app whose Redis is down still starts and answers 503 until Redis is back.
"""

from __future__ import annotations

import os
import threading

from flask import Flask, current_app
from werkzeug.routing import BaseConverter

from ..connection import resolve_url
from ..service import Service
from ..settings import Settings
from ..types import registry

# Redis connections per pool of a web process's Service: requests beyond it wait
# for a free one, so a burst of viewers connecting cannot open hundreds.
WEB_POOL = 16
# Where the app keeps its Service (``app.extensions``), and the lock that builds it once.
EXTENSION = "jobsvc"
_BUILD_LOCK = "jobsvc.build_lock"


class NameConverter(BaseConverter):
    """One path segment, empty included.

    Flask's default converter refuses an empty segment with a 404; taking it
    lets ``validation.deployment`` answer 400, as the contract asks for any
    name outside its pattern.
    """

    regex = "[^/]*"


def create_app(settings: Settings | None = None) -> Flask:
    from . import (
        auth,
        dashboard,
        deployments,
        errors,
        headers,
        inputs,
        sse,
        system,
        tasks,
        websocket,
    )

    app = Flask(__name__)
    settings = settings or Settings.from_env()
    # Task modules are code, not state: a bad JOBSVC_TASK_MODULES fails here, at start.
    registry.load(settings)
    app.config.update(JOBSVC_SETTINGS=settings, MAX_CONTENT_LENGTH=settings.max_body)
    # Task JSON reads best in the contract's field order.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # `/deployments//tasks` names an empty deployment (400), not another path.
    app.url_map.merge_slashes = False
    app.url_map.converters["name"] = NameConverter
    app.extensions[_BUILD_LOCK] = threading.Lock()
    errors.init_app(app)
    headers.init_app(app)
    auth.init_app(app)
    inputs.init_app(app)
    for module in (tasks, deployments, system, sse, dashboard, websocket):
        app.register_blueprint(module.bp)
    # Keeps idle WebSockets alive through proxies and notices dead peers.
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": 25}
    websocket.sock.init_app(app)
    return app


def get_settings() -> Settings:
    settings: Settings = current_app.config["JOBSVC_SETTINGS"]
    return settings


def get_service() -> Service:
    """The app's one Service, built on first use (and again after a failed build)."""
    app = current_app
    svc: Service | None = app.extensions.get(EXTENSION)
    if svc is None:
        with app.extensions[_BUILD_LOCK]:
            svc = app.extensions.get(EXTENSION)
            if svc is None:
                settings = get_settings()
                svc = Service(resolve_url(settings), settings, pool_size=WEB_POOL,
                              name=f"jobsvc-web-{os.getpid()}")
                app.extensions[EXTENSION] = svc
    return svc
