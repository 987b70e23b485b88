"""One output line is capped, whoever prints it: a handler's ctx.log or a shell child.

Real workers print 1 MiB lines; the stored log and the live events must
carry the first 64 KiB of such a line and a marker, then the lines after it.
"""

from __future__ import annotations

import json
import sys

import pytest

from jobsvc.settings import LOG_LINE_MAX_BYTES
from tests.helpers import wait_ended

MIB = 1 << 20
MARKER = f"… [line truncated at {LOG_LINE_MAX_BYTES} bytes]"
# A child writing 1 MiB without a newline, then a short line.
BIG_LINE = f"import sys; sys.stdout.write('x' * {MIB}); sys.stdout.flush(); print(); print('after')"


@pytest.fixture
def env(env):
    return {**env, "JOBSVC_SHELL_ALLOWLIST": json.dumps({"big": [sys.executable, "-c", BIG_LINE]})}


def assert_capped(svc, task_id: str, char: str) -> None:
    capped = char * LOG_LINE_MAX_BYTES + MARKER
    assert svc.store.log(task_id) == capped + "\nafter\n"
    lines = [e["data"]["line"] for e in svc.events(task_id) if e["type"] == "log"]
    assert lines == [capped, "after"]


def test_a_shell_child_line_of_1_mib_is_capped(svc, make_worker):
    task = svc.submit("prod", "shell", {"command": "big"})
    make_worker()
    assert wait_ended(svc, task.id)["status"] == "completed"
    assert_capped(svc, task.id, "x")


def test_a_ctx_log_line_of_1_mib_is_capped(svc, make_worker):
    task = svc.submit("prod", "long_line", {"size": MIB})
    make_worker()
    assert wait_ended(svc, task.id)["status"] == "completed"
    assert_capped(svc, task.id, "y")


def test_a_line_at_the_cap_is_kept_whole(svc, make_worker):
    task = svc.submit("prod", "long_line", {"size": LOG_LINE_MAX_BYTES})
    make_worker()
    assert wait_ended(svc, task.id)["status"] == "completed"
    assert svc.store.log(task.id) == "y" * LOG_LINE_MAX_BYTES + "\nafter\n"
