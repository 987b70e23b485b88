"""`jobsvc up`, `jobsvc down` and `jobsvc web`: running the service's processes.

``up`` is everything for local use in one command: a Redis it owns (unless
``JOBSVC_REDIS_URL`` names one) on loopback, with a generated password and
AOF persistence in the data dir, then the web server, the workers and the
scheduler as child processes: the workers of the ``standard`` pool
(``--workers``) and one of the ``long`` pool, as the Procfile's ``worker`` and
``worker-long``.  It holds a lock in its data dir (``uplock``): a second `up`
there is refused in one line, and ``down`` finds it.  It says it is up once
``/healthz`` answers and a worker offers its task types (so the first submit
of a custom type is not refused).

SIGINT, SIGTERM and SIGHUP (a closed terminal) stop it the same way, in
order: the web server first, so nothing new comes in; the workers of both
pools together, which finish their current task within ``JOBSVC_SHUTDOWN_S``
(a second signal stops them at once); the webhook deliverer (when webhooks
are configured); the scheduler; Redis last.  Each child leads a process
group of its own, and gets SIGTERM from the kernel if `up` itself is killed
(``lifetime``), so nothing it started outlives it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis

from .. import lifetime
from ..connection import redacted, url_file, write_url_file
from ..errors import ConfigError
from ..loopback import is_loopback_host, refusal
from ..settings import DEFAULT_HOST, LONG_POOL, Settings
from ..store import TaskStore, open_store
from . import uplock
from .redis_server import RedisServer

# Random bytes of the password of `jobsvc up`'s own Redis.
PASSWORD_BYTES = 32
# How long workers get to kill their work-horses once they stop at once (their own
# shutdown deadline, or a second Ctrl-C), in seconds.
FORCE_GRACE_S = 5.0
# How long the web server gets to answer the requests it has (live streams end at
# once), and the scheduler to stop, before they are killed; in seconds.
WEB_STOP_S = 10.0
SCHEDULER_STOP_S = 5.0
# How long Redis gets to write its AOF and exit, in seconds.
REDIS_STOP_S = 10.0
# How long `up` waits for the web server's /healthz to answer at start, in seconds.
START_TIMEOUT_S = 60.0
# What `down` allows beyond the stop time `up` announces, in seconds.
DOWN_MARGIN_S = 15.0
EXAMPLE = """\
jobsvc is up: {url}
  API:        {url}/api/v1/deployments
  Redis:      {redis}
  Try it (in a second terminal, same directory):
    jobsvc submit demo echo --payload '{{"lines": ["hello", "world"]}}' --wait
    jobsvc status
Ctrl-C stops everything (or `jobsvc down` in another terminal)."""


# The web server's command line after the interpreter: gunicorn with jobsvc's
# settings, serving the app (the Procfile's `web:` line says the same).
GUNICORN_ARGS = (
    "-m",
    "gunicorn",
    "-c",
    "python:jobsvc.processes.gunicorn_conf",
    "jobsvc.web:create_app()",
)


def run_web(host: str, port: int, threads: int) -> None:
    """Replaces this process with gunicorn serving the app (threads)."""
    settings = Settings.from_env()
    if not settings.auth_required and not is_loopback_host(host):
        raise ConfigError(refusal([host]))
    os.environ.update({"JOBSVC_HOST": host, "PORT": str(port), "JOBSVC_WEB_THREADS": str(threads)})
    os.execv(sys.executable, [sys.executable, *GUNICORN_ARGS])


def say(line: str) -> None:
    """A line on stderr; nothing if the terminal has gone (SIGHUP)."""
    with contextlib.suppress(OSError, ValueError):
        print(f"jobsvc: {line}", file=sys.stderr, flush=True)


def _own_redis(settings: Settings) -> RedisServer:
    """A Redis on loopback with a fresh random password, its URL left for other commands.

    Whoever reaches this Redis runs code as this user (RQ imports any dotted
    function name a job names), so loopback alone is not enough: other local
    users must not get in either.
    """
    server = RedisServer(
        settings.data_dir / "redis",
        appendonly=True,
        password=secrets.token_urlsafe(PASSWORD_BYTES),
        die_with_owner=True,
    ).start()
    write_url_file(settings.data_dir, server.url)
    return server


def check_port(host: str, port: int) -> None:
    """Refuses, in one line, a port something else listens on (before starting anything).

    Bound as gunicorn binds (SO_REUSEADDR), so a port in TIME_WAIT passes.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} is in use; use --port") from None
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


@dataclass
class Child:
    """One of `up`'s processes: what it is, how long its stop may take, what it waits for."""

    name: str
    argv: list[str]
    stop_s: float
    waiting: str
    # Stopped at the same time as the child before it (the workers of two pools:
    # one after the other, a stop would wait for two shutdown allowances).
    with_previous: bool = False
    proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        # A process group of its own: stopping it reaches all its processes, and a
        # terminal's Ctrl-C reaches `up` alone, which stops them in order.
        self.proc = subprocess.Popen(
            self.argv,
            env=env,
            start_new_session=True,
            preexec_fn=lifetime.child_dies_with_me(signal.SIGTERM),
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signum)


def _children(settings: Settings, host: str, port: int, workers: int) -> list[Child]:
    """The children in their stopping order: nothing new comes in once the web has gone."""
    me = [sys.executable, "-m", "jobsvc"]
    waiting = (
        f"their running tasks (up to {settings.shutdown_s:g}s; Ctrl-C again to stop them at once)"
    )
    return [
        Child("web", me + ["web", "--host", host, "--port", str(port)], WEB_STOP_S, "its requests"),
        Child(
            "workers", me + ["worker", "--count", str(workers)], stop_timeout_s(settings), waiting
        ),
        Child(
            f"{LONG_POOL} worker",
            me + ["worker", "--pool", LONG_POOL, "--count", "1"],
            stop_timeout_s(settings),
            waiting.replace("their", "its", 1),
            with_previous=True,
        ),
        *_deliverer(settings, me),
        Child("scheduler", me + ["scheduler"], SCHEDULER_STOP_S, "its current pass"),
    ]


def _deliverer(settings: Settings, me: list[str]) -> list[Child]:
    """A deliverer when webhooks are configured; it stops after the workers, whose
    last tasks' deliveries it may still send, and waits for its tries in flight."""
    if not settings.webhooks:
        return []
    stop_s = settings.webhook_timeout_s + FORCE_GRACE_S
    return [Child("deliverer", me + ["deliverer"], stop_s, "its webhook tries in flight")]


def stages(children: list[Child]) -> list[list[Child]]:
    """The children grouped as they stop: each with those ``with_previous`` after it."""
    grouped: list[list[Child]] = []
    for child in children:
        if child.with_previous and grouped:
            grouped[-1].append(child)
        else:
            grouped.append([child])
    return grouped


def stop_timeout_s(settings: Settings) -> float:
    """How long Ctrl-C waits for the workers before killing them.

    A worker lets its task run for ``JOBSVC_SHUTDOWN_S`` and then stops it
    itself; `up` waits that long and the grace of the stop, so it never
    kills a task the worker would still have let finish.
    """
    return settings.shutdown_s + FORCE_GRACE_S


@dataclass
class Stopping:
    """Set by the first SIGINT/SIGTERM/SIGHUP; ``forced`` by any later one."""

    requested: threading.Event = field(default_factory=threading.Event)
    forced: threading.Event = field(default_factory=threading.Event)

    def on_signal(self, _signum: int, _frame: object) -> None:
        if self.requested.is_set():
            self.forced.set()
        self.requested.set()

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.on_signal)


def _stop_stage(stage: list[Child], stopping: Stopping) -> None:
    """SIGTERM (warm: workers finish their task) to each child of the stage; again if
    forced (RQ's cold shutdown), with FORCE_GRACE_S left; SIGKILL for what is left
    at a child's deadline."""
    running = [child for child in stage if child.running()]
    for child in running:
        say(f"stopping the {child.name}: waiting for {child.waiting}")
        child.signal(signal.SIGTERM)
    start, forced = time.monotonic(), False
    deadlines = {id(child): start + child.stop_s for child in running}
    while any(c.running() and time.monotonic() < deadlines[id(c)] for c in running):
        if stopping.forced.is_set() and not forced:
            forced = True
            for child in running:
                child.signal(signal.SIGTERM)
                deadlines[id(child)] = min(deadlines[id(child)], time.monotonic() + FORCE_GRACE_S)
        time.sleep(0.05)
    for child in running:
        child.signal(signal.SIGKILL)
        if child.proc is not None:
            child.proc.wait()


def _stop_all(
    children: list[Child], server: RedisServer | None, settings: Settings, stopping: Stopping
) -> None:
    for stage in stages(children):
        _stop_stage(stage, stopping)
    if server is not None:
        say("stopping Redis")
        server.stop(REDIS_STOP_S)
        Path(url_file(settings.data_dir)).unlink(missing_ok=True)
    say("stopped")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _offering(store: TaskStore) -> bool:
    """Whether a worker has published the task types it runs (a submit of a
    type of ``JOBSVC_TASK_MODULES`` is refused until one has)."""
    with contextlib.suppress(redis.RedisError):
        return bool(store.offered_types())
    return False


def _wait_started(
    children: list[Child], url: str, store: TaskStore, stopping: Stopping
) -> str | None:
    """None once /healthz answers and the workers offer their types; else why `up`
    cannot start (or "" if told to stop)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not stopping.requested.is_set():
        for child in children:
            if not child.running():
                code = child.proc.returncode if child.proc else None
                return f"the {child.name} exited at start (status {code}); see its output above"
        if _healthy(url) and _offering(store):
            return None
        if time.monotonic() > deadline:
            return (
                f"the web server did not answer {url}/healthz, or no worker offered its "
                f"task types, within {START_TIMEOUT_S:g}s"
            )
        time.sleep(0.2)
    return ""


def _run_until_stopped(children: list[Child], stopping: Stopping) -> int:
    """Waits for a stop signal (0), or a child that ends by itself (1)."""
    while not stopping.requested.wait(0.2):
        ended = [child for child in children if not child.running()]
        if ended:
            code = ended[0].proc.returncode if ended[0].proc else None
            say(f"the {ended[0].name} exited (status {code}); stopping everything")
            return 1
    return 0


def run_up(port: int, workers: int) -> int:
    """`jobsvc up`: 0 once stopped by a signal, 1 if something failed (said in one line)."""
    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("JOBSVC_HOST") or DEFAULT_HOST
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    stopping = Stopping()
    stopping.install()  # from here a signal during the start stops what has started
    lock = uplock.UpLock(settings.data_dir)
    previous = lock.acquire()
    try:
        _take_over(previous)
        check_port(host, port)
        return _serve(settings, lock, url, _children(settings, host, port, workers), stopping)
    finally:
        lock.release()


def _take_over(previous: uplock.Record | None) -> None:
    """After a killed `up`: its processes stop (they got SIGTERM when it died) before
    this one starts its own; says what it did."""
    if previous is None:
        return
    running, killed = uplock.stop_leftovers(previous, previous.stop_s)
    what = f"waited for its {running} process(es) still running to stop" if running else ""
    what += f", killed {killed} that did not" if killed else ""
    say(f"took over from a jobsvc up (pid {previous.pid}) that was killed; {what or 'none left'}")


def _serve(
    settings: Settings, lock: uplock.UpLock, url: str, children: list[Child], stopping: Stopping
) -> int:
    """Starts Redis and the children, says it is up once it is, then stops them all."""
    server: RedisServer | None = None
    try:
        server = None if settings.redis_url else _own_redis(settings)
        redis_url = settings.redis_url or server.url  # type: ignore[union-attr]
        env = {**os.environ, "JOBSVC_REDIS_URL": redis_url}
        for child in children:
            child.start(env)
        lock.write(_record(settings, url, children, server))
        failure = _wait_started(children, url, open_store(settings, redis_url), stopping)
        if failure:
            say(failure)
            return 1
        if failure is None:
            with contextlib.suppress(OSError, ValueError):
                print(EXAMPLE.format(url=url, redis=redacted(redis_url)), flush=True)
            return _run_until_stopped(children, stopping)
        return 0
    finally:
        _stop_all(children, server, settings, stopping)


def _record(
    settings: Settings, url: str, children: list[Child], server: RedisServer | None
) -> uplock.Record:
    procs = [c.proc for c in children if c.proc] + ([server.process] if server else [])
    pids = [p.pid for p in procs if p is not None]
    stop_s = sum(max(c.stop_s for c in stage) for stage in stages(children)) + REDIS_STOP_S
    return uplock.Record(
        pid=os.getpid(),
        started=uplock.start_time(os.getpid()),
        url=url,
        stop_s=stop_s,
        children={str(pid): uplock.start_time(pid) for pid in pids},
    )


def run_down(data_dir: Path) -> None:
    """`jobsvc down`: stops the `up` of ``data_dir`` and waits for it, or says why not."""
    record = uplock.holder(data_dir)
    if record is None:
        raise ConfigError(f"no jobsvc up is running for data dir {data_dir}")
    if record.pid == 0 or uplock.start_time(record.pid) != record.started:
        raise ConfigError(f"jobsvc up for data dir {data_dir} is starting; try again")
    timeout = record.stop_s + DOWN_MARGIN_S
    os.kill(record.pid, signal.SIGTERM)
    print(f"stopping jobsvc up (pid {record.pid}, {record.url}); waiting up to {timeout:g}s")
    deadline = time.monotonic() + timeout
    while uplock.holder(data_dir) is not None:
        if time.monotonic() > deadline:
            raise ConfigError(f"jobsvc up (pid {record.pid}) still running after {timeout:g}s")
        time.sleep(0.1)
    print("stopped")
