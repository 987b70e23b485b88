"""`jobsvc tail`'s progress bar: on a terminal, percent and message redrawn on one
line (cleared first, cut to the terminal's width) and cleared before an output
line; into a pipe, the plain lines scripts have always read.  The CLI runs as a
real process on a pseudo-terminal against a real worker's task."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.helpers import wait_ended
from tests.test_terminal import OWN_CLEAR_LINE, run_on_terminal

COLUMNS = 60


def screen(out: bytes, columns: int) -> list[str]:
    """The rows a terminal shows after ``out`` (text, CR, LF and erase-line only),
    checking that no row ever ran past ``columns`` (it would have wrapped)."""
    rows, col, text, i = [""], 0, out.decode(), 0
    while i < len(text):
        if text.startswith("\x1b[K", i):
            rows[-1], i = rows[-1][:col], i + 3
            continue
        char = text[i]
        if char == "\r":
            col = 0
        elif char == "\n":
            rows, col = rows + [""], 0
        else:
            rows[-1] = rows[-1][:col] + char + rows[-1][col + 1 :]
            col += 1
            assert col < columns, f"a row ran past {columns} columns: {rows[-1]!r}"
        i += 1
    return rows


def ended_task(svc, make_worker) -> str:
    """A ``progressing`` task, run to its end: bars, a log line, a last bar."""
    make_worker()
    task = svc.submit("prod-eu", "progressing")
    assert wait_ended(svc, task.id)["status"] == "completed"
    return task.id


def test_tail_on_a_terminal_redraws_the_bar_in_place(env, svc, make_worker):
    task_id = ended_task(svc, make_worker)
    code, out = run_on_terminal(["tail", task_id], {**env, "COLUMNS": str(COLUMNS)})
    assert code == 0, out
    first = out.index(b"[###")
    second = out.index(b"[######")
    # One line: between two bars nothing but the line's clearing, no newline.
    assert out[first:second].endswith(OWN_CLEAR_LINE) and b"\n" not in out[first:second], out
    assert out[first - len(OWN_CLEAR_LINE) : first] == OWN_CLEAR_LINE, out
    # The wide message is cut to the terminal's width, and the bar says its percent.
    assert b" 10.0% fetching" in out and b"list of things" not in out, out
    assert b" 40.0% short" in out and b"100.0% done" in out, out
    # The output line starts on a cleared line, not after the bar.
    assert OWN_CLEAR_LINE + b"a line of output\n" in out, out
    assert screen(out, COLUMNS) == ["-- running", "a line of output", "-- completed", ""]


def test_tail_into_a_pipe_prints_each_progress_as_a_plain_line(env, svc, make_worker):
    task_id = ended_task(svc, make_worker)
    proc = subprocess.run(
        [sys.executable, "-m", "jobsvc", "tail", task_id],
        cwd=ROOT,
        env={**os.environ, **env, "COLUMNS": str(COLUMNS)},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        b"[###...........................]  10.0% fetching a long list of things\n"
        b"[############..................]  40.0% short\n"
        b"a line of output\n"
        b"[##############################] 100.0% done\n"
    )
    assert proc.stderr == b"-- running\n-- completed\n"
