"""The ``jobsvc`` command: one click group, one verb per command.

Every command exits 0 on success and non-zero with a one-line error
otherwise (``failures``; ``--debug`` shows the traceback).  Commands that
read or change tasks talk to Redis through the Python API (``tasks``,
``upkeep``), so they work without the web server running.  What a script
reads is plain: ``submit`` prints the task id alone into a pipe, ``tail``
the task's exact output.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..processes.scheduler import run_scheduler
from ..processes.up import run_down, run_up, run_web
from ..processes.worker import run_workers
from ..settings import (
    DEFAULT_DATA_DIR,
    DEFAULT_HOST,
    DEFAULT_POOL,
    DEFAULT_PORT,
    DEFAULT_WEB_THREADS,
    Settings,
)
from ..webhooks.deliverer import run_deliverer
from . import tasks, upkeep, webhooks
from .common import redis_first
from .failures import JobsvcGroup


@click.group(cls=JobsvcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug",
    is_flag=True,
    envvar="JOBSVC_DEBUG",
    help="Show the traceback of an error instead of one line [env JOBSVC_DEBUG=1].",
)
@click.version_option(package_name="jobsvc", prog_name="jobsvc", message="%(prog)s %(version)s")
def cli(debug: bool) -> None:
    """jobsvc: per-deployment job lanes on Redis and RQ."""


# -- processes --------------------------------------------------------------------


def port_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--port``, read from JOBSVC_PORT too, for the commands that serve HTTP."""
    return click.option(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        show_default=True,
        envvar="JOBSVC_PORT",
        help=f"{help_text} [env JOBSVC_PORT].",
    )


@cli.command()
@port_option("The web server's port")
@click.option(
    "--workers",
    "worker_count",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes for the standard pool.",
)
def up(port: int, worker_count: int) -> None:
    """Everything for local use: Redis (unless configured), web, workers, scheduler.

    Ctrl-C, SIGTERM, SIGHUP or `jobsvc down` stop it all, in order."""
    if Settings.from_env().redis_url:
        redis_first()
    sys.exit(run_up(port=port, workers=worker_count))


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    envvar="JOBSVC_DATA_DIR",
    help="The data dir of the `jobsvc up` to stop [env JOBSVC_DATA_DIR].",
)
def down(data_dir: Path) -> None:
    """Stop the `jobsvc up` running for a data dir (from another terminal), and wait for it."""
    run_down(data_dir)


@cli.command()
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    envvar="JOBSVC_HOST",
    help="Address to listen on; not loopback needs JOBSVC_API_TOKENS [env JOBSVC_HOST].",
)
@port_option("Port to listen on")
@click.option(
    "--threads",
    type=int,
    default=DEFAULT_WEB_THREADS,
    show_default=True,
    help="Per process; each live viewer holds one.",
)
def web(host: str, port: int, threads: int) -> None:
    """The HTTP API (gunicorn, threads)."""
    redis_first()
    run_web(host, port, threads)


@cli.command()
@click.option(
    "--pool",
    default=DEFAULT_POOL,
    show_default=True,
    envvar="JOBSVC_POOL",
    help="The pool whose tasks to run [env JOBSVC_POOL].",
)
@click.option(
    "--count", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
)
@click.option("--burst", is_flag=True, help="Exit when there is nothing left to do.")
@click.option(
    "--worker-class",
    type=click.Choice(["fork", "simple"]),
    default="fork",
    show_default=True,
    envvar="JOBSVC_WORKER_CLASS",
    help="fork: each task in a forked work-horse; simple: in the worker process.",
)
@click.option(
    "--max-tasks",
    type=click.IntRange(min=1),
    default=None,
    help="Exit (0) after running N tasks, each process of --count on its own; "
    "maintenance jobs do not count.",
)
def worker(pool: str, count: int, burst: bool, worker_class: str, max_tasks: int | None) -> None:
    """RQ workers for a pool."""
    redis_first()
    sys.exit(run_workers(pool, count, burst=burst, worker_class=worker_class, max_tasks=max_tasks))


@cli.command()
@click.option("--burst", is_flag=True, help="Register the jobs, run what is due, exit.")
def scheduler(burst: bool) -> None:
    """rq-scheduler with jobsvc's periodic reconcilers."""
    redis_first()
    run_scheduler(burst=burst)


@cli.command()
def deliverer() -> None:
    """Send webhook deliveries (JOBSVC_WEBHOOKS); run one or more anywhere."""
    redis_first()
    run_deliverer()


for module in (tasks, upkeep, webhooks):
    for command in module.COMMANDS.commands.values():
        cli.add_command(command)


def main() -> None:
    cli(prog_name="jobsvc")
