"""The README's Python example runs as written against `jobsvc up`.

The README's ``# <file>.py`` code blocks are written to an empty directory,
`jobsvc up` is started there with the README's own command line (plus a free
port), and the example script is run from that directory as a user runs it,
in a second process with no JOBSVC_* variable of its own.  Every process of
the run carries a marker in its environment, so whatever outlives the test
is found and stopped by that marker, never by a name.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from jobsvc.processes.redis_server import free_port
from tests.conftest import ROOT
from tests.helpers import wait_until

README = (ROOT / "README.md").read_text()
JOBSVC = str(Path(sys.executable).parent / "jobsvc")
MARKER = "README_RUN_MARKER"
# `up` starts Redis, gunicorn, workers and the scheduler: slow on a loaded machine.
START_TIMEOUT_S = 90.0
# `up`'s Ctrl-C waits for its workers (JOBSVC_SHUTDOWN_S, 60 s) at most.
STOP_TIMEOUT_S = 90.0


def example_files() -> dict[str, str]:
    """The README's Python blocks that name their file on their first line."""
    blocks = re.findall(r"```python\n# (\w+\.py)\n(.*?)```", README, re.S)
    return {name: f"# {name}\n{code}" for name, code in blocks}


def up_modules() -> str:
    """The task modules the README's `jobsvc up` command line names."""
    match = re.search(r"^JOBSVC_TASK_MODULES=(\S+) jobsvc up$", README, re.M)
    assert match, "the README shows how to start `jobsvc up` with its task module"
    return match.group(1)


def marked(marker: str) -> list[int]:
    """Pids of the processes whose environment carries ``marker``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:  # gone, or not ours
            continue
    return pids


def user_env(**extra: str) -> dict[str, str]:
    """A user's environment: this one's, without any JOBSVC_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSVC_")}
    return {**env, **extra}


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`jobsvc up` as the README starts it, in a directory holding the example files."""
    for name, code in example_files().items():
        (tmp_path / name).write_text(code)
    marker = secrets.token_hex(8)
    port = free_port()
    proc = subprocess.Popen(
        [JOBSVC, "up", "--port", str(port)],
        cwd=tmp_path,
        env=user_env(JOBSVC_TASK_MODULES=up_modules(), **{MARKER: marker}),
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), START_TIMEOUT_S, "up")
        yield tmp_path, marker
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT_S)
        finally:
            for pid in marked(marker):
                os.kill(pid, signal.SIGKILL)


def test_readme_python_example_completes_against_jobsvc_up(up):
    here, marker = up
    scripts = [name for name in example_files() if name[:-3] not in up_modules().split(",")]
    assert scripts == ["submit.py"], scripts

    def offered() -> bool:
        run = subprocess.run(
            [JOBSVC, "types"], cwd=here, env=user_env(), capture_output=True, text=True
        )
        return "deploy" in run.stdout.split()

    # What a user reads off `jobsvc types`: the workers offer the README's type.
    wait_until(offered, START_TIMEOUT_S, "up's workers to offer the README's type")
    run = subprocess.run(
        [sys.executable, "submit.py"],
        cwd=here,
        env=user_env(**{MARKER: marker}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "completed", (run.stdout, run.stderr)
