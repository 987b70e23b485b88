"""The built-in task types: noop, sleep, echo, fail and shell.

``shell`` runs only commands named in ``JOBSVC_SHELL_ALLOWLIST`` (name ->
argv template).  Placeholders ``{name}`` in the template are filled, whole
argument by whole argument, from the payload's ``args``; nothing a client
sends is ever parsed by a shell.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from typing import Any

from .registry import task
from .settings import Settings

PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# name -> argv template, from the process settings (see configure).
_ALLOWLIST: dict[str, list[str]] = {}


def configure(settings: Settings) -> None:
    """Takes the shell allowlist from the settings the process runs with."""
    _ALLOWLIST.clear()
    _ALLOWLIST.update(settings.shell_allowlist)


class TaskFailed(Exception):
    """A built-in task failed on purpose or its command exited non-zero."""


@task("noop", timeout=60)
def noop(ctx: Any, payload: dict) -> None:
    return None


def _check_sleep(payload: dict) -> str | None:
    seconds = payload.get("seconds", 1)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        return "seconds must be a non-negative number"
    return None


@task("sleep", validate=_check_sleep)
def sleep(ctx: Any, payload: dict) -> dict:
    seconds = float(payload.get("seconds", 1))
    ctx.sleep(seconds)
    return {"slept": seconds}


def _check_echo(payload: dict) -> str | None:
    lines = payload.get("lines", [])
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        return "lines must be a list of strings"
    return None


@task("echo", validate=_check_echo)
def echo(ctx: Any, payload: dict) -> dict:
    lines = payload.get("lines", [])
    for line in lines:
        ctx.log(line)
    return {"lines": len(lines)}


def _check_fail(payload: dict) -> str | None:
    times = payload.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
        return "times must be a non-negative integer"
    return None


@task("fail", validate=_check_fail)
def fail(ctx: Any, payload: dict) -> dict:
    times = payload.get("times")
    if times is None or ctx.attempt <= times:
        raise TaskFailed(payload.get("message") or f"failing on purpose (attempt {ctx.attempt})")
    return {"succeededOnAttempt": ctx.attempt}


def shell_argv(allowlist: dict[str, list[str]], payload: dict) -> list[str]:
    """The argv to run, or ValueError saying why the payload does not fit."""
    name = payload.get("command")
    if not isinstance(name, str) or name not in allowlist:
        raise ValueError(f"command must be one of the allowlist: {sorted(allowlist)}")
    args = payload.get("args", {})
    if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
        raise ValueError("args must be an object of strings")
    argv = []
    for part in allowlist[name]:
        match = PLACEHOLDER.match(part)
        if match is None:
            argv.append(part)
        elif match.group(1) in args:
            argv.append(args[match.group(1)])
        else:
            raise ValueError(f"args.{match.group(1)} is required by command {name!r}")
    return argv


def _check_shell(payload: dict) -> str | None:
    try:
        shell_argv(_ALLOWLIST, payload)
    except ValueError as exc:
        return str(exc)
    return None


@task("shell", validate=_check_shell)
def shell(ctx: Any, payload: dict) -> dict:
    argv = shell_argv(_ALLOWLIST, payload)
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True, errors="replace", bufsize=1, start_new_session=True,
    )
    ctx.on_stop(lambda: _kill_group(proc))
    assert proc.stdout is not None
    for line in proc.stdout:
        ctx.log(line)
    code = proc.wait()
    if ctx.stopping.is_set():
        raise TaskFailed("stopped")
    if code != 0:
        raise TaskFailed(f"{argv[0]} exited with status {code}")
    return {"exitCode": code}


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
