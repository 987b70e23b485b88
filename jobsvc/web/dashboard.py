"""The dashboard page: every deployment's active task and queue depth, live.

The page holds no data (so it needs no token); its script
(``static/dashboard.js``) opens the dashboard SSE stream, passing on a
``?token=`` the page was opened with.  Script and style are files of their
own, served by the app, so the page's Content-Security-Policy allows nothing
inline: text from tasks that ever reached the page could not run.
"""

from __future__ import annotations

from flask import Blueprint, Response

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

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>jobsvc</title>
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script>
</head>
<body>
<h1>jobsvc</h1>
<p id="state">connecting...</p>
<table><thead><tr><th>deployment</th><th>active task</th><th>status</th>
<th>waiting</th><th>last task</th><th></th></tr></thead><tbody id="rows"></tbody></table>
<p>Try: <code>jobsvc submit demo echo --payload '{"lines": ["hello"]}' --wait</code></p>
</body></html>
"""


@bp.get("/")
def page() -> Response:
    return Response(PAGE, mimetype="text/html", headers=PAGE_HEADERS)
