"""Headers every response carries.

``X-Content-Type-Options: nosniff`` everywhere: a task's log is
``text/plain`` and a task can print anything, including HTML; without it a
browser may sniff such a log into a page and run its scripts with the
server's origin.  JSON answers and the dashboard's files get it too, so no
response is ever read as something other than its declared type.
"""

from __future__ import annotations

from flask import Flask, Response

NOSNIFF = ("X-Content-Type-Options", "nosniff")


def init_app(app: Flask) -> None:
    app.after_request(_nosniff)


def _nosniff(response: Response) -> Response:
    response.headers.setdefault(*NOSNIFF)
    return response
