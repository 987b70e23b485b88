"""gunicorn settings for the HTTP API.

Used as ``gunicorn -c python:jobsvc.processes.gunicorn_conf "jobsvc.web:create_app()"``
(``jobsvc web`` does exactly that).  Threads rather than more processes: a
cancel waits for the running task to stop, and live streams hold a request
open, so most requests spend their time waiting on Redis, not on the CPU.

Without API tokens the server refuses to start on anything but loopback
(``on_starting``, before any socket is opened), so an open API can never be
reachable from the network by mistake.

Live streams end as soon as a worker is told to stop (``post_worker_init``,
``worker_int``): gunicorn waits for open requests up to ``graceful_timeout``,
and a stream never ends by itself, even one whose viewer has left (until
its next keep-alive fails to send).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from gunicorn.util import parse_address

from .. import loopback
from ..errors import JobsvcError
from ..settings import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_WEB_THREADS, Settings
from ..web.ext import stop_live

# Worker processes; WEB_CONCURRENCY is the variable PaaS platforms set.
DEFAULT_WORKERS = 2


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw.strip() else default
    except ValueError:
        sys.exit(f"jobsvc web: {name} must be an integer, got {raw!r}")
    if value < 1:
        sys.exit(f"jobsvc web: {name} must be at least 1, got {raw!r}")
    return value


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


worker_class = "gthread"
threads = _env_int("JOBSVC_WEB_THREADS", DEFAULT_WEB_THREADS)
workers = _env_int("WEB_CONCURRENCY", DEFAULT_WORKERS)
# Open connections per worker process: every thread busy, and a few waiting.
worker_connections = threads + 64
bind = [
    _bind_address(os.environ.get("JOBSVC_HOST") or DEFAULT_HOST, _env_int("PORT", DEFAULT_PORT))
]
# gunicorn's control socket lives at one path per user: two servers on a host would fight over it.
control_socket_disable = True
accesslog = "-"
# The path without its query string: a WebSocket's ``?token=`` must not reach the logs.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'
errorlog = "-"


def is_loopback_bind(address: str) -> bool:
    """Whether a gunicorn bind address is reachable from this host only.

    A Unix socket is; so are loopback IPs and ``localhost``.  An inherited
    ``fd://`` socket, an empty host (all interfaces) or any other name is not.
    """
    try:
        parsed = parse_address(address)
    except RuntimeError:
        return False
    if isinstance(parsed, str):
        return True
    if isinstance(parsed, int):
        return False
    return loopback.is_loopback_host(parsed[0])


def refusal(binds: list[str], settings: Settings) -> str | None:
    """Why the server must not start with these binds, or None if it may."""
    if settings.auth_required:
        return None
    exposed = [address for address in binds if not is_loopback_bind(address)]
    if not exposed:
        return None
    return loopback.refusal(exposed)


def on_starting(server: Any) -> None:
    """gunicorn hook, run before any socket is bound: stop here, with one line, if exposed."""
    try:
        reason = refusal(list(server.cfg.bind), Settings.from_env())
    except JobsvcError as exc:
        reason = exc.message
    if reason:
        sys.exit(f"jobsvc web: {reason}")


def post_worker_init(worker: Any) -> None:
    """gunicorn hook: SIGTERM (a graceful stop) also ends the worker's live streams.

    gunicorn has no hook for a worker's SIGTERM, so its handler is wrapped;
    like gunicorn's own, it must not interrupt a system call of a request.
    """
    graceful = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        _stop_live_once(worker)
        if callable(graceful):
            graceful(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
    signal.siginterrupt(signal.SIGTERM, False)


def worker_int(worker: Any) -> None:
    """gunicorn hook, on SIGINT/SIGQUIT (stop at once): the streams end first, with a close."""
    _stop_live_once(worker)


def _stop_live_once(worker: Any) -> None:
    """Ends the worker's live streams, once, from a thread of its own.

    Called from a signal handler, which runs between two bytecodes of the
    main thread, and a second signal comes (``kill`` of the group, then the
    arbiter's own SIGTERM) while the first handler may hold the hub's lock: a
    handler that waited on it would wait on itself.
    """
    if getattr(worker, "jobsvc_live_stopping", False):
        return
    worker.jobsvc_live_stopping = True
    threading.Thread(
        target=stop_live, args=(worker.wsgi,), name="jobsvc-stop-live", daemon=True
    ).start()
