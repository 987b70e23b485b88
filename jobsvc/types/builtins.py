"""The built-in task types: noop, sleep, echo, fail and shell.

``shell`` runs only commands named in ``JOBSVC_SHELL_ALLOWLIST``, in the
sandbox that ``sandbox`` describes: whole-argument placeholders filled from
the payload's ``args`` (never parsed by a shell, never an option), a
minimal environment (plus the secrets its allowlist entry names), a fresh
working directory, lines of bounded length.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from typing import Any

from .. import lifetime
from ..settings import LOG_LINE_MAX_BYTES, Settings
from . import sandbox
from .registry import task

# name -> allowlisted command, from the process settings (see configure).
_ALLOWLIST: dict[str, sandbox.Command] = {}


def configure(settings: Settings) -> None:
    """Takes the shell allowlist from the settings the process runs with; replaced
    whole, so a check running meanwhile in another thread sees the old or the new."""
    global _ALLOWLIST
    _ALLOWLIST = dict(settings.shell_allowlist)


class TaskFailed(Exception):
    """A built-in task failed on purpose or its command exited non-zero."""


@task("noop", timeout=60)
def noop(ctx: Any, payload: dict[str, Any]) -> None:
    return None


def _check_sleep(payload: dict[str, Any]) -> str | None:
    seconds = payload.get("seconds", 1)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        return "seconds must be a non-negative number"
    return None


@task("sleep", validate=_check_sleep)
def sleep(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    seconds = float(payload.get("seconds", 1))
    ctx.sleep(seconds)
    return {"slept": seconds}


def _check_echo(payload: dict[str, Any]) -> str | None:
    lines = payload.get("lines", [])
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        return "lines must be a list of strings"
    return None


@task("echo", validate=_check_echo)
def echo(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    lines = payload.get("lines", [])
    for line in lines:
        ctx.log(line)
    return {"lines": len(lines)}


def _check_fail(payload: dict[str, Any]) -> str | None:
    times = payload.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
        return "times must be a non-negative integer"
    return None


@task("fail", validate=_check_fail)
def fail(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    times = payload.get("times")
    if times is None or ctx.attempt <= times:
        raise TaskFailed(payload.get("message") or f"failing on purpose (attempt {ctx.attempt})")
    return {"succeededOnAttempt": ctx.attempt}


def _check_shell(payload: dict[str, Any]) -> str | None:
    sandbox.build_argv(_ALLOWLIST, payload)  # InvalidInput names the field at fault
    return None


def _shell_secrets(payload: dict[str, Any]) -> tuple[str, ...]:
    """The secrets of the payload's command: one type runs every allowlisted
    command, so what an attempt reads depends on which one it runs."""
    name = payload.get("command")
    command = _ALLOWLIST.get(name) if isinstance(name, str) else None
    return command.secrets if command is not None else ()


@task("shell", validate=_check_shell, secrets=_shell_secrets)
def shell(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Runs an allowlisted command in a directory of its own, removed when it ends."""
    argv = sandbox.build_argv(_ALLOWLIST, payload)
    secrets = {name: ctx.secrets[name] for name in _shell_secrets(payload)}
    with tempfile.TemporaryDirectory(
        prefix=sandbox.WORKDIR_PREFIX, ignore_cleanup_errors=True
    ) as workdir:
        code = _run(ctx, argv, sandbox.child_env(workdir, secrets), workdir)
    if ctx.stopping.is_set():
        raise TaskFailed("stopped")
    if code != 0:
        raise TaskFailed(f"{argv[0]} exited with status {code}")
    return {"exitCode": code}


def _run(ctx: Any, argv: list[str], env: dict[str, str], workdir: str) -> int:
    """Streams the child's output to the task's log line by line (ctx.log masks
    the secrets in it); returns its exit status."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
        env=env,
        start_new_session=True,
        # Its own session (a stop kills its whole group), yet it dies with the
        # process running the handler, even one killed outright (RQ's cold shutdown).
        preexec_fn=lifetime.child_dies_with_me(signal.SIGKILL),
    )
    ctx.on_stop(lambda: _kill_group(proc))
    assert proc.stdout is not None
    with proc.stdout:
        for line in sandbox.read_lines(proc.stdout, LOG_LINE_MAX_BYTES):
            ctx.log(line.decode("utf-8", "replace"))  # ctx.log cuts and marks a long line
    return proc.wait()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
