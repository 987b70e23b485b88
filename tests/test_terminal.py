"""Task output on a terminal: control characters and escape sequences shown, never obeyed.

A task's output, progress, step names and error messages are written by task
code and whatever it runs; on a terminal an escape sequence from there could
retitle the window, clear the screen or rewrite earlier lines.  The CLI runs
here as a real process on a pseudo-terminal, against a real worker.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import tty

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsvc.cli.terminal import neutralise
from tests.conftest import ROOT
from tests.helpers import wait_ended

HOSTILE = "\x1b]0;pwned\x07\x1b[2J"
SHOWN = "^[]0;pwned^G^[[2J"
# What the CLI itself writes on a terminal before a line: back to column 0, clear the line.
OWN_CLEAR_LINE = b"\r\x1b[K"
CONTROLS = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))}


# -- the function --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HOSTILE, SHOWN),
        ("plain text, caf\u00e9 \u2713", "plain text, caf\u00e9 \u2713"),
        ("a\tb", "a\tb"),
        ("a\nb", "a\nb"),
        ("a\rb", "a^Mb"),
        ("crlf\r\nline\r\n", "crlf\nline\n"),
        ("ends in cr\r", "ends in cr"),
        ("\x00\x08\x1b\x1f\x7f", "^@^H^[^_^?"),
        ("\x9b31mred", "\\x9b31mred"),
        ("\x85next line", "\\x85next line"),
        ("\x1bP+q\x1b\\", "^[P+q^[\\"),
        ("", ""),
    ],
)
def test_neutralise_table(text: str, expected: str) -> None:
    assert neutralise(text) == expected


def test_one_line_shows_newlines_too() -> None:
    assert neutralise("half\nway\r\n", one_line=True) == "half^Jway^M^J"


@given(st.text(), st.booleans())
def test_neutralised_text_has_no_control_but_tab_and_newline(text: str, one_line: bool) -> None:
    shown = neutralise(text, one_line=one_line)
    allowed = {"\t"} if one_line else {"\t", "\n"}
    assert not (set(shown) & CONTROLS) - allowed
    assert neutralise(shown, one_line=one_line) == shown


@given(st.text(st.characters(blacklist_characters=sorted(CONTROLS - {"\t", "\n"}))))
def test_text_without_controls_is_unchanged(text: str) -> None:
    assert neutralise(text) == text


# -- the CLI as a real process on a terminal ---------------------------------------------


def run_on_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, bytes]:
    """(exit code, every byte written) of ``jobsvc ARGS`` with a pseudo-terminal as its tty."""
    master, slave = os.openpty()
    tty.setraw(slave)  # the bytes as the process wrote them: no \n -> \r\n
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobsvc", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"jobsvc {args[0]} did not end: {bytes(out)!r}"
            if not select.select([master], [], [], left)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process and its children closed the terminal
                break
            if not chunk:
                break
            out += chunk
        return proc.wait(10), bytes(out)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        os.close(master)


def visible_text(out: bytes) -> str:
    """What a terminal shows, checking it held nothing but text and the CLI's own line clearing."""
    text = out.replace(OWN_CLEAR_LINE, b"").decode()
    assert not (set(text) & CONTROLS) - {"\n", "\r"}, out
    assert "\r" not in text.replace("\r[", "["), out  # only the progress bar's redraw
    return text


def test_tail_on_a_terminal_shows_task_escapes_instead_of_obeying_them(
    env, svc, make_worker
) -> None:
    make_worker()
    task = svc.submit(
        "prod-eu",
        "chatty",
        {"progress": f"half {HOSTILE}", "step": f"s{HOSTILE}", "lines": [HOSTILE, "after"]},
    )
    wait_ended(svc, task.id)
    code, out = run_on_terminal(["tail", task.id], env)
    assert code == 0, out
    text = visible_text(out)
    assert f"\n{SHOWN}\n" in text and "\nafter\n" in text
    assert f"half {SHOWN}" in text and f"== step s{SHOWN}: completed" in text


def test_submit_wait_on_a_terminal_shows_error_escapes_instead_of_obeying_them(
    env, make_worker
) -> None:
    make_worker()
    payload = json.dumps({"error": f"boom {HOSTILE}"})
    code, out = run_on_terminal(
        ["submit", "prod-eu", "chatty", "--payload", payload, "--wait"], env
    )
    assert code == 1, out
    assert f"boom {SHOWN}" in visible_text(out)


def test_tail_into_a_pipe_passes_task_output_through_exactly(env, svc, make_worker) -> None:
    """Scripts reading the output get what the task wrote, as ``/tasks/{id}/log`` has it."""
    make_worker()
    task = svc.submit("prod-eu", "echo", {"lines": [HOSTILE, "after"]})
    wait_ended(svc, task.id)
    proc = subprocess.run(
        [sys.executable, "-m", "jobsvc", "tail", task.id],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{HOSTILE}\nafter\n".encode()
    assert proc.stdout.decode() == svc.store.log(task.id)
