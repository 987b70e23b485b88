"""Every error of every command as one line on stderr, in one place.

A command raises what it raises (the project's exception tree, redis-py's
errors, an OS error); ``JobsvcGroup`` turns it into one line and exit 1,
so a new command needs nothing of its own.  ``--debug`` (or
``JOBSVC_DEBUG=1``) lets the exception through with its traceback instead.

Redis URLs are shown only through ``connection.redacted``: a URL may carry
the password of a Redis whose users can run code as the service's user.
"""

from __future__ import annotations

import re
from typing import Any

import click
import redis

from ..connection import redacted
from ..errors import InvalidInput, JobsvcError

# Where a command records the Redis it uses (``Context.meta`` is shared with its group),
# so an error can name it.
REDIS_URL_META = "jobsvc.redis_url"

# API field (what validation names) -> the command's parameter that carries it.
# The flag shown is the parameter's own (``--timeout``, ``DEPLOYMENT``), read from
# the command that failed, so the same field reads ``--deployment`` where it is an option.
FIELD_PARAMS = {
    "deployment": "deployment",
    "type": "task_type",
    "payload": "payload",
    "priority": "priority",
    "dedupeKey": "dedupe_key",
    "cooldownS": "cooldown",
    "maxRetries": "retries",
    "timeoutS": "timeout",
    "dependsOn": "depends_on",
    "metadata": "metadata",
    "keyFields": "key_fields",
    "since": "since",
    "status": "status",
}


class JobsvcGroup(click.Group):
    """The ``jobsvc`` group: runs a command, and reports any error it raises in one line
    (a usage error too: the message and where to find the usage, exit 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            # Without its context click prints the message alone, not the usage above it.
            name = f"jobsvc {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "jobsvc"
            hint = f" (`{name} --help` shows the usage)"
            raise click.UsageError(exc.format_message() + hint) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            command = self.get_command(ctx, ctx.invoked_subcommand or "")
            raise click.ClickException(one_line(describe(exc, ctx.meta, command))) from None


def describe(exc: Exception, meta: dict[str, Any], command: click.Command | None) -> str:
    """What went wrong, for an operator: the message, the flag at fault, the Redis in use."""
    if isinstance(exc, InvalidInput) and exc.field and command is not None:
        return with_flag(exc.message, exc.field, command)
    if isinstance(exc, JobsvcError):
        return exc.message
    url = meta.get(REDIS_URL_META)
    where = f"Redis at {redacted(url)}" if url else "Redis"
    if isinstance(exc, redis.AuthenticationError):
        return f"{where} refused the credentials: {exc}"
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return f"cannot use {where}: {exc}"
    if isinstance(exc, redis.RedisError):
        return f"{where} answered with an error: {exc}"
    if isinstance(exc, OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (--debug shows the traceback)"


def with_flag(message: str, field: str, command: click.Command) -> str:
    """The message with the API field's name replaced by the command's flag for it."""
    flag = flag_of(command, FIELD_PARAMS.get(field, ""))
    if flag is None:
        return message
    return re.sub(rf"(?<![\w-]){re.escape(field)}(?![\w-])", flag, message, count=1)


def flag_of(command: click.Command, param_name: str) -> str | None:
    """``--timeout`` for an option, ``TYPE`` for an argument; None if the command has none."""
    for param in command.params:
        if param.name != param_name:
            continue
        if isinstance(param, click.Option):
            return max(param.opts, key=len)
        return param.human_readable_name
    return None


def one_line(message: str) -> str:
    """A message that may hold newlines (a server's reply, an OS error) on one line."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())
