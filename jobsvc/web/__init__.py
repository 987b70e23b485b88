"""The HTTP API: a Flask app factory, as in Flask's tutorial.

Nothing is connected at import time.  ``create_app`` only wires the error
handler, auth and the blueprints; the Service and the relay are built by
the first request that needs them (``ext``).
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import BaseConverter

from ..settings import Settings
from ..types import loader
from . import (
    auth,
    dashboard,
    deployments,
    errors,
    ext,
    headers,
    inputs,
    metrics,
    openapi,
    sse,
    system,
    tasks,
    webhooks,
    websocket,
)


class NameConverter(BaseConverter):
    """One path segment, empty included.

    Flask's default converter refuses an empty segment with a 404; taking it
    lets ``validation.deployment`` answer 400, as the contract asks for any
    name outside its pattern.
    """

    regex = "[^/]*"


def create_app(settings: Settings | None = None) -> Flask:
    app = Flask(__name__)
    settings = settings or Settings.from_env()
    # Task modules are code, not state: a bad JOBSVC_TASK_MODULES fails here, at start.
    loader.load(settings)
    ext.init_app(app, settings)
    # Task JSON reads best in the contract's field order.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # `/deployments//tasks` names an empty deployment (400), not another path.
    app.url_map.merge_slashes = False
    app.url_map.converters["name"] = NameConverter
    errors.init_app(app)
    headers.init_app(app)
    auth.init_app(app)
    inputs.init_app(app)
    metrics.init_app(app)
    for module in (
        tasks,
        deployments,
        system,
        metrics,
        sse,
        dashboard,
        websocket,
        webhooks,
        openapi,
    ):
        app.register_blueprint(module.bp)
    # Keeps idle WebSockets alive through proxies and notices dead peers.
    # A browser offers "jobsvc" next to its token's subprotocol (auth.protocol_token): the
    # server picks "jobsvc", so the token is never echoed back.
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": 25, "subprotocols": [auth.SUBPROTOCOL]}
    websocket.sock.init_app(app)
    return app
