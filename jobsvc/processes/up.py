"""`jobsvc up` and `jobsvc web`: running the service's processes.

``up`` is everything for local use in one command: a Redis it owns (unless
``JOBSVC_REDIS_URL`` names one) on loopback, with a generated password and
AOF persistence in the data dir, then
the web server, the workers and the scheduler as child processes.  Ctrl-C
stops the children first (workers finish their current task; a second
Ctrl-C stops them at once), Redis last.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..connection import ping, redacted, url_file, write_url_file
from ..errors import ConfigError
from ..loopback import is_loopback_host, refusal
from ..settings import Settings
from .redis_server import RedisServer

# Random bytes of the password of `jobsvc up`'s own Redis.
PASSWORD_BYTES = 32
# How long workers get to kill their work-horses once they stop at once (their own
# shutdown deadline, or a second Ctrl-C), in seconds.
FORCE_GRACE_S = 5.0
EXAMPLE = """\
jobsvc is up: {url}
  API:        {url}/api/v1/deployments
  Redis:      {redis}
  Try it (in a second terminal, same directory):
    jobsvc submit demo echo --payload '{{"lines": ["hello", "world"]}}' --wait
    jobsvc status
Ctrl-C stops everything."""


def run_web(host: str, port: int, threads: int) -> None:
    """Replaces this process with gunicorn serving the app (threads)."""
    settings = Settings.from_env()
    if not settings.auth_required and not is_loopback_host(host):
        raise ConfigError(refusal([host]))
    os.environ.update({"JOBSVC_HOST": host, "PORT": str(port), "JOBSVC_WEB_THREADS": str(threads)})
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:jobsvc.processes.gunicorn_conf",
            "jobsvc.web:create_app()",
        ],
    )


def _own_redis(settings: Settings) -> RedisServer:
    """A Redis on loopback with a fresh random password, its URL left for other commands.

    Whoever reaches this Redis runs code as this user (RQ imports any dotted
    function name a job names), so loopback alone is not enough: other local
    users must not get in either.
    """
    marker = url_file(settings.data_dir)
    if marker.exists() and ping(marker.read_text().strip()):
        raise ConfigError(f"jobsvc up is already running for data dir {settings.data_dir}")
    server = RedisServer(
        settings.data_dir / "redis", appendonly=True, password=secrets.token_urlsafe(PASSWORD_BYTES)
    ).start()
    write_url_file(settings.data_dir, server.url)
    return server


def _children(port: int, workers: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    me = [sys.executable, "-m", "jobsvc"]
    commands = [
        me + ["web", "--port", str(port)],
        me + ["worker", "--count", str(workers)],
        me + ["scheduler"],
    ]
    # Each in a process group of its own: stopping one reaches all its processes.
    return [subprocess.Popen(cmd, env=env, start_new_session=True) for cmd in commands]


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    if child.poll() is None:
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass


def stop_timeout_s(settings: Settings) -> float:
    """How long Ctrl-C waits for the children before killing them.

    A worker lets its task run for ``JOBSVC_SHUTDOWN_S`` and then stops it
    itself; `up` waits that long and the grace of the stop, so it never
    kills a task the worker would still have let finish.
    """
    return settings.shutdown_s + FORCE_GRACE_S


def _stop(
    children: list[subprocess.Popen[bytes]], forced: threading.Event, timeout_s: float
) -> None:
    """SIGTERM (warm: workers finish their task); SIGKILL for what is left at the deadline."""
    for child in children:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(c.poll() is None for c in children) and time.monotonic() < deadline:
        if forced.is_set():
            deadline = min(deadline, time.monotonic() + FORCE_GRACE_S)
            forced.clear()
        time.sleep(0.1)
    for child in children:
        _signal_group(child, signal.SIGKILL)
        child.wait()


def run_up(port: int, workers: int) -> int:
    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = None if settings.redis_url else _own_redis(settings)
    url = settings.redis_url or server.url  # type: ignore[union-attr]
    children: list[subprocess.Popen[bytes]] = []
    stopping, forced = False, threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            # A second Ctrl-C: a second SIGTERM is RQ's cold shutdown, which kills
            # each worker's work-horse too; running tasks are retried later.
            for child in children:
                _signal_group(child, signal.SIGTERM)
            forced.set()
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        children = _children(port, workers, {**os.environ, "JOBSVC_REDIS_URL": url})
        print(EXAMPLE.format(url=f"http://127.0.0.1:{port}", redis=redacted(url)), flush=True)
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.2)
        failed = [c for c in children if c.poll() not in (None, 0)]
        return 1 if failed and not stopping else 0
    finally:
        print(
            f"jobsvc: stopping; workers finish their current task within "
            f"{settings.shutdown_s:g}s (Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )
        _stop(children, forced, stop_timeout_s(settings))
        if server is not None:
            server.stop()
            Path(url_file(settings.data_dir)).unlink(missing_ok=True)
