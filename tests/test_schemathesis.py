"""schemathesis holds the running API to its OpenAPI document.

A real gunicorn (the Procfile's command line), a real redis-server and a real
worker, so submitted tasks run and end; schemathesis' command line runs every
phase (examples, coverage, fuzzing, stateful: submit's links lead to get,
cancel, skip, retry and log) with negative data on and every check, against
the document the server itself serves.  Any server error, any answer the
document does not describe, any invalid request accepted or valid one
refused fails the test, with schemathesis' report as the message.

The live streams stay open until their task ends (or for ever: the
dashboard), which no fuzzer can wait for, even with invalid input only (some
of its cases are valid requests): ``tests/test_openapi.py`` checks what they
stream, and how they refuse, against the document instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.web_process import WebProcess, gunicorn

TOKEN = "schemathesis-token"
# Examples per operation and a fixed seed: the run takes about a minute on a
# loaded 2-core machine and finds the same cases every time.
MAX_EXAMPLES = 15
SEED = 20261201
# The most one run may take, in seconds (it is killed, and the test fails, after).
RUN_TIMEOUT_S = 240
STREAMS = "/events$"
HOOKS = "tests.schemathesis_hooks"


@pytest.fixture
def api(env: dict[str, str], make_worker, tmp_path: Path) -> Iterator[WebProcess]:
    """The API with a full token, the built-in task types only, and one worker."""
    extra = {
        "JOBSVC_API_TOKENS": f"ci:{TOKEN}",
        # The test types include tasks that run until told (wait_file, silent).
        "JOBSVC_TASK_MODULES": "",
        "JOBSVC_CANCEL_WAIT_S": "3",
    }
    make_worker(**extra)
    with gunicorn({**env, **extra}, tmp_path / "gunicorn.log") as web:
        yield web


def schemathesis(web: WebProcess, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` on the served document, with this test's hooks and seed.

    It runs in ``workdir``, where it keeps its cache of earlier failures: each
    run starts from nothing, and nothing lands in the checkout.
    """
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{web.base_url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        "all",
        # Replaced by the hooks' valid_data_accepted, which allows only the refusals
        # that depend on what no schema can know.
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--request-timeout",
        "20",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        *args,
    ]
    return subprocess.run(
        command,
        cwd=workdir,
        env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def assert_passed(run: subprocess.CompletedProcess[str], web: WebProcess) -> None:
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-12000:]
    assert "Tested:" in report, report[-4000:]
    web.assert_no_error_logged()


def test_the_api_keeps_to_its_document_under_schemathesis(api: WebProcess, tmp_path: Path) -> None:
    run = schemathesis(api, tmp_path, "--exclude-path-regex", STREAMS)
    assert_passed(run, api)
    # The stateful phase ran, and followed links from a submitted task.
    links = re.search(r"API Links:\s+(\d+) covered", run.stdout)
    assert links is not None and int(links.group(1)) > 0, run.stdout[-4000:]
