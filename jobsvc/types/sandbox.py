"""The shell built-in's sandbox: which argv a payload may produce, and what the child gets.

``JOBSVC_SHELL_ALLOWLIST`` maps a command name to an argv template: a plain
list (``["echo", "hello", "{name}"]``), or an object that adds a regular
expression per placeholder (``{"argv": [...], "args": {"name": "[a-z]+"}}``)
which a value must match as a whole, and the task secrets the command gets
as environment variables (``"secrets": ["DEPLOY_TOKEN"]``: the operator's
choice, never the payload's; never in argv, which any local user can
read).  A placeholder fills one whole argument, so nothing a client sends
is parsed by a shell.  A value that starts with ``-`` is refused unless the
template has a literal ``--`` before the placeholder: a client can fill in
an operand, never add an option (``-rf``, ``--output=...``).

The child runs in a fresh directory of its own, with an environment that
holds nothing of the worker's but ``PATH`` and its command's secrets: no
tokens, no Redis URL, no ``JOBSVC_*`` variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import ConfigError, InvalidInput
from ..task_secrets import check_names

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Where the template says options end; placeholders after it may take values starting with '-'.
END_OF_OPTIONS = "--"
# The child's locale: UTF-8 output whatever the worker's locale is.
CHILD_LOCALE = "C.UTF-8"
# Prefix of each attempt's working directory (under the worker's temp dir).
WORKDIR_PREFIX = "jobsvc-shell-"


@dataclass(frozen=True)
class Command:
    """One allowlisted command: its argv template and the pattern of each placeholder."""

    argv: tuple[str, ...]
    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict[str, Any])
    # The task secrets the child gets as environment variables of the same names.
    secrets: tuple[str, ...] = ()

    def placeholders(self) -> list[tuple[int, str]]:
        """(index in argv, name) of each placeholder."""
        found = ((i, PLACEHOLDER.fullmatch(part)) for i, part in enumerate(self.argv))
        return [(i, m.group(1)) for i, m in found if m is not None]

    def options_end(self) -> int:
        """Index of the literal ``--``, or len(argv) when the template has none."""
        return self.argv.index(END_OF_OPTIONS) if END_OF_OPTIONS in self.argv else len(self.argv)


# -- configuration ----------------------------------------------------------------------


def parse_allowlist(raw: str) -> dict[str, Command]:
    """``JOBSVC_SHELL_ALLOWLIST`` -> commands, or a ConfigError at start-up naming the entry."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"JOBSVC_SHELL_ALLOWLIST is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("JOBSVC_SHELL_ALLOWLIST must be a JSON object: name -> argv template")
    return {name: _command(name, entry) for name, entry in data.items()}


def _config_error(where: str, problem: str) -> ConfigError:
    return ConfigError(f"JOBSVC_SHELL_ALLOWLIST: {where}: {problem}")


def _command(name: str, entry: Any) -> Command:
    argv, patterns = (entry, {}) if isinstance(entry, list) else _command_object(name, entry)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise _config_error(name, "argv must be a non-empty list of strings")
    command = Command(
        tuple(argv),
        {k: _compile(f"{name}.args.{k}", v) for k, v in patterns.items()},
        _secret_names(name, entry.get("secrets", []) if isinstance(entry, dict) else []),
    )
    placeholders = command.placeholders()
    if placeholders and placeholders[0][0] == 0:
        raise _config_error(name, "argv[0] must name the program, not be a placeholder")
    unused = sorted(set(command.patterns) - {n for _, n in placeholders})
    if unused:
        raise _config_error(f"{name}.args.{unused[0]}", "no such placeholder in argv")
    return command


def _command_object(name: str, entry: Any) -> tuple[Any, dict[str, Any]]:
    if (
        not isinstance(entry, dict)
        or set(entry) - {"argv", "args", "secrets"}
        or "argv" not in entry
    ):
        raise _config_error(
            name, 'expected a list, or an object {"argv": [...], "args": {...}, "secrets": [...]}'
        )
    patterns = entry.get("args", {})
    if not isinstance(patterns, dict):
        raise _config_error(f"{name}.args", "must map placeholder names to regular expressions")
    return entry["argv"], patterns


def _secret_names(name: str, names: Any) -> tuple[str, ...]:
    """The command's secrets: valid names (task_secrets.NAME), none of them a
    variable the sandbox sets itself (a secret named PATH would replace it)."""
    if not isinstance(names, list):
        raise _config_error(f"{name}.secrets", "must be a list of secret names")
    try:
        checked = check_names(names, f"JOBSVC_SHELL_ALLOWLIST: {name}.secrets")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    clash = sorted(set(checked) & set(child_env("")))
    if clash:
        raise _config_error(f"{name}.secrets", f"{clash[0]} is set by the sandbox itself")
    return checked


def _compile(where: str, pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise _config_error(where, "a regular expression must be a string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise _config_error(where, f"invalid regular expression {pattern!r}: {exc}") from None


# -- a payload's argv ---------------------------------------------------------------------


def build_argv(allowlist: dict[str, Command], payload: dict[str, Any]) -> list[str]:
    """The argv to run, or InvalidInput naming the payload field that does not fit."""
    name = payload.get("command")
    if not isinstance(name, str) or name not in allowlist:
        raise InvalidInput(
            f"payload.command must be one of the allowlist: {sorted(allowlist)}",
            field="payload.command",
        )
    args = payload.get("args", {})
    if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
        raise InvalidInput("payload.args must be an object of strings", field="payload.args")
    command = allowlist[name]
    argv = list(command.argv)
    for index, placeholder in command.placeholders():
        argv[index] = _value(command, name, index, placeholder, args)
    return argv


def _value(command: Command, name: str, index: int, placeholder: str, args: dict[str, str]) -> str:
    where = f"payload.args.{placeholder}"
    if placeholder not in args:
        raise InvalidInput(f"{where} is required by command {name!r}", field=where)
    value = args[placeholder]
    pattern = command.patterns.get(placeholder)
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidInput(f"{where} must match {pattern.pattern!r} as a whole", field=where)
    if value.startswith("-") and index < command.options_end():
        raise InvalidInput(
            f"{where} must not start with '-': command {name!r} would read it as an option",
            field=where,
        )
    return value


# -- the child process ---------------------------------------------------------------------


def child_env(workdir: str, secrets: Mapping[str, str] | None = None) -> dict[str, str]:
    """All the child gets: the worker's PATH (to find the program), a locale, its own
    HOME, and the secrets its command names (``Command.secrets``), by name."""
    return {
        "PATH": os.environ.get("PATH") or os.defpath,
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": CHILD_LOCALE,
        "LC_ALL": CHILD_LOCALE,
        **(secrets or {}),
    }


def read_lines(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """The child's output line by line, each at most ``limit`` + 1 bytes.

    A longer line is yielded cut to ``limit`` + 1 bytes (so the caller sees it
    was over the limit) and the rest of it is read and dropped: a 1 GiB line
    never sits in the worker's memory, nor overshoots the task's log cap.
    """
    while line := stream.readline(limit + 1):
        yield line
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := stream.readline(limit)) and not rest.endswith(b"\n"):
                pass
