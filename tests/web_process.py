"""The web app as production runs it: gunicorn with its production config, a real process.

The ``web_server`` fixture serves the app with Werkzeug in the test process;
what depends on gunicorn itself (its gthread worker, its handling of an
upgraded socket, keep-alive) is tested against this one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from jobsvc.processes.redis_server import free_port
from jobsvc.processes.up import GUNICORN_ARGS
from tests.conftest import ROOT
from tests.helpers import wait_until

# Seconds gunicorn gets to start answering, and to stop after SIGTERM.
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class WebProcess:
    """A running gunicorn: its base URL and what it has logged."""

    def __init__(self, base_url: str, log_path: Path, proc: subprocess.Popen):
        self.proc = proc
        self.base_url = base_url
        self.ws_url = "ws" + base_url.removeprefix("http")
        self.log_path = log_path
        self._mark = 0

    def log(self) -> str:
        """What the server logged since the last ``mark()``."""
        return self.log_path.read_text(errors="replace")[self._mark :]

    def mark(self) -> None:
        self._mark = len(self.log_path.read_text(errors="replace"))

    def assert_no_error_logged(self) -> None:
        text = self.log()
        assert "Traceback" not in text and "[ERROR]" not in text, text[-4000:]


def _answers(base_url: str) -> bool:
    try:
        return requests.get(base_url + "/healthz", timeout=2).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # still booting
        return False


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path, **extra: str) -> Iterator[WebProcess]:
    """The Procfile's gunicorn command line (``jobsvc.processes.gunicorn_conf``) on a free port.

    One worker process unless ``extra`` says otherwise, so every connection
    of a test meets the same worker.
    """
    port = free_port()
    process_env = {**os.environ, **env, "PORT": str(port), "WEB_CONCURRENCY": "1", **extra}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, *GUNICORN_ARGS],
            cwd=ROOT,
            env=process_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    web = WebProcess(f"http://127.0.0.1:{port}", log_path, proc)
    try:
        wait_until(
            lambda: proc.poll() is not None or _answers(web.base_url),
            START_TIMEOUT_S,
            "gunicorn to answer",
        )
        assert proc.poll() is None, web.log()
        yield web
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)
