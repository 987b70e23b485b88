"""What every command that talks to Redis shares: a connected Service, its flags, its output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from ..connection import check_reachable, resolve_url
from ..service import connect
from ..settings import Settings
from .failures import REDIS_URL_META
from .terminal import shown


def service_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Gives the command a connected Service (errors are the group's: ``failures``)."""

    @click.option(
        "--redis-url",
        envvar="JOBSVC_REDIS_URL",
        default=None,
        help="Redis to use [env JOBSVC_REDIS_URL; default: `jobsvc up`'s].",
    )
    @wraps(func)
    def wrapper(redis_url: str | None, **kwargs: Any) -> None:
        meta = click.get_current_context().meta
        meta[REDIS_URL_META] = redis_url
        svc = connect(redis_url)
        meta[REDIS_URL_META] = svc.url
        func(svc, **kwargs)

    return wrapper


def redis_first() -> None:
    """A process command's check before it starts: its Redis answers, or one line
    now (a supervisor restarts it) instead of a process retrying forever."""
    url = resolve_url(Settings.from_env())
    click.get_current_context().meta[REDIS_URL_META] = url
    check_reachable(url)


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """Prints data as JSON, or as text for a person: neutralised on a terminal, since
    task fields (an error message) come from task code; exact into a pipe."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(shown(text(data), sys.stdout.isatty()), color=True)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: the command prints its data as JSON (the contract's shapes)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)
