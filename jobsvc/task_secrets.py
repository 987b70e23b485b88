"""The secrets a task type declares: their names, and reading their values for one attempt.

A worker reads each secret at the start of every attempt, before the
handler runs, from the file ``JOBSVC_SECRETS_DIR/<NAME>`` (as Docker and
Kubernetes mount secrets), or failing that from its own environment variable
``JOBSVC_SECRET_<NAME>``.  Nothing is cached between attempts: a rotated
file is read by the next attempt, and the values go with the attempt
(``runner.Attempt``).  They are never written to Redis: the names are part
of the code, the values only of the worker's memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .redaction import MIN_SECRET_CHARS

# A secret's name: a portable environment variable name (so JOBSVC_SECRET_<NAME>
# and a shell child's variable are valid everywhere) and a plain file name (no
# '/', no '.', so it cannot leave JOBSVC_SECRETS_DIR nor name a hidden file).
NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
# The environment variable that holds secret NAME when no file does: this prefix + NAME.
ENV_PREFIX = "JOBSVC_SECRET_"

# What ``@task(secrets=...)`` takes: the names, or (for a type like ``shell``, one
# type for many commands) a function of the payload that returns them.
SecretNames = Sequence[str] | Callable[[dict[str, Any]], Sequence[str]]


class SecretMissing(Exception):
    """A secret the attempt needs could not be read: the attempt fails before
    its handler runs, and is not retried (the next attempt would fail alike
    until an operator provides it).  The message names the secret, never a value."""


def check_names(names: Iterable[str], where: str = "secrets") -> tuple[str, ...]:
    """The names as a tuple, or ValueError naming the first that is not a NAME."""
    if isinstance(names, str):  # tuple("TOKEN") would be five one-letter names
        raise ValueError(f"{where}: secrets must be a list of names, not the string {names!r}")
    checked = tuple(names)
    for name in checked:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValueError(
                f"{where}: secret name {name!r} must match {NAME.pattern} "
                "(an environment variable name, and a file name)"
            )
    return checked


def read(
    names: Iterable[str], secrets_dir: Path | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """name -> value for each name, or SecretMissing naming the first that is not there."""
    return {name: _read_one(name, secrets_dir, environ) for name in names}


def _read_one(name: str, secrets_dir: Path | None, environ: Mapping[str, str]) -> str:
    value = _from_file(name, secrets_dir)
    if value is None:
        value = _from_environ(name, environ)
    if value is None:
        where = f"no file {secrets_dir / name}, " if secrets_dir else "JOBSVC_SECRETS_DIR unset, "
        raise SecretMissing(
            f"secret {name} is missing: {where}no {ENV_PREFIX}{name} in the worker's environment"
        )
    if len(value) < MIN_SECRET_CHARS:
        raise SecretMissing(
            f"secret {name} is shorter than {MIN_SECRET_CHARS} characters: "
            "too short to be masked in the task's output"
        )
    return value


def _from_environ(name: str, environ: Mapping[str, str]) -> str | None:
    """The variable's value; None if it is not set.  Bytes that are not UTF-8
    (which Python reads as surrogates) are refused as a file's are: no mask
    could be built of them, and the attempt would die before its handler."""
    value = environ.get(ENV_PREFIX + name)
    try:
        if value is not None:
            value.encode("utf-8")
    except UnicodeEncodeError:
        raise SecretMissing(
            f"secret {name} is missing: {ENV_PREFIX}{name} is not UTF-8 text"
        ) from None
    return value


def _from_file(name: str, secrets_dir: Path | None) -> str | None:
    """The file's text without one trailing newline; None if there is no file.
    A file that exists and cannot be read is missing too, and says why."""
    if secrets_dir is None:
        return None
    path = secrets_dir / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SecretMissing(
            f"secret {name} is missing: file {path} unreadable ({reason})"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretMissing(f"secret {name} is missing: file {path} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
