"""The dashboard page: deployments, a lane's queue, a task's live output, workers.

The page holds no data (so it needs no token); its scripts (``static/``,
plain ES modules, no build step; docs/architecture.md lists them) fetch the
API with the token the user typed, kept in ``sessionStorage``, as a Bearer
header, and open WebSockets with it as a subprotocol (``auth.protocol_token``).
Script and style are files of their own, served by the app, so the page's
Content-Security-Policy allows nothing inline: text from tasks that ever
reached the page could not run.
"""

from __future__ import annotations

from flask import Blueprint, Response

from .ext import get_settings

bp = Blueprint("dashboard", __name__)

# What the page may load: its own files and streams only; it may not be framed
# (clickjacking), nor submit forms or change its base URL anywhere.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    # frame-ancestors for browsers that predate it.
    "X-Frame-Options": "DENY",
}

# The page is a shell: ``static/app.js`` routes on the URL's hash and fills <main>.
# ``data-auth`` tells the script whether to ask for a token before its first call.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>jobsvc</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/dashboard.css">
<script type="module" src="/static/app.js"></script>
</head>
<body data-auth="{auth}">
<header>
<strong class="brand">jobsvc</strong>
<nav><a href="#/">Deployments</a> <a href="#/tasks">Tasks</a> <a href="#/workers">Workers</a></nav>
<span id="who"></span> <span id="conn" class="conn">connecting...</span>
</header>
<p id="notice" class="notice" hidden></p>
<form id="login" class="login" hidden>
<label>API token <input id="token" type="password" autocomplete="off" required></label>
<button type="submit">Open</button> <span id="login-error" class="error"></span>
<p class="hint">Kept in this tab only (sessionStorage) and sent as a header, never in a URL.</p>
</form>
<main id="view"></main>
</body></html>
"""


@bp.get("/")
def page() -> Response:
    auth = "required" if get_settings().auth_required else "none"
    return Response(PAGE.replace("{auth}", auth), mimetype="text/html", headers=PAGE_HEADERS)
