"""The ``jobsvc`` command: one click group, one verb per command.

Every command exits 0 on success and non-zero with a one-line error
otherwise.  Commands that read or change tasks talk to Redis through the
Python API, so they work without the web server running.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
import redis

from ..connection import redacted
from ..errors import JobsvcError, Unavailable
from ..processes.scheduler import run_scheduler
from ..processes.up import run_down, run_up, run_web
from ..processes.worker import run_workers
from ..service import Service, connect
from ..settings import DEFAULT_HOST, DEFAULT_POOL, DEFAULT_PORT, DEFAULT_WEB_THREADS
from ..states import PRIORITIES
from . import output
from .terminal import shown


def service_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Gives the command a connected Service and turns errors into one line."""

    @click.option(
        "--redis-url",
        envvar="JOBSVC_REDIS_URL",
        default=None,
        help="Redis to use [env JOBSVC_REDIS_URL; default: `jobsvc up`'s].",
    )
    @wraps(func)
    def wrapper(redis_url: str | None, **kwargs: Any) -> None:
        try:
            svc = connect(redis_url)
            try:
                func(svc, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise Unavailable(f"cannot use Redis at {redacted(svc.url)}: {exc}") from None
        except JobsvcError as exc:
            raise click.ClickException(exc.message) from None

    return wrapper


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """Prints data as JSON, or as text for a person: neutralised on a terminal, since
    task fields (an error message) come from task code; exact into a pipe."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(shown(text(data), sys.stdout.isatty()), color=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """jobsvc: per-deployment job lanes on Redis and RQ."""


# -- processes --------------------------------------------------------------------


@cli.command()
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, envvar="JOBSVC_PORT")
@click.option(
    "--workers",
    "worker_count",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes.",
)
def up(port: int, worker_count: int) -> None:
    """Everything for local use: Redis (unless configured), web, workers, scheduler.

    Ctrl-C, SIGTERM, SIGHUP or `jobsvc down` stop it all, in order."""
    try:
        code = run_up(port=port, workers=worker_count)
    except JobsvcError as exc:
        raise click.ClickException(exc.message) from None
    sys.exit(code)


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".jobsvc"),
    show_default=True,
    envvar="JOBSVC_DATA_DIR",
    help="The data dir of the `jobsvc up` to stop [env JOBSVC_DATA_DIR].",
)
def down(data_dir: Path) -> None:
    """Stop the `jobsvc up` running for a data dir (from another terminal), and wait for it."""
    try:
        run_down(data_dir)
    except JobsvcError as exc:
        raise click.ClickException(exc.message) from None


@cli.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, envvar="JOBSVC_HOST")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, envvar="JOBSVC_PORT")
@click.option(
    "--threads",
    type=int,
    default=DEFAULT_WEB_THREADS,
    show_default=True,
    help="Per process; each live viewer holds one.",
)
def web(host: str, port: int, threads: int) -> None:
    """The HTTP API (gunicorn, threads)."""
    try:
        run_web(host, port, threads)
    except JobsvcError as exc:
        raise click.ClickException(exc.message) from None


@cli.command()
@click.option("--pool", default=DEFAULT_POOL, show_default=True, envvar="JOBSVC_POOL")
@click.option("--count", type=int, default=1, show_default=True)
@click.option("--burst", is_flag=True, help="Exit when there is nothing left to do.")
@click.option(
    "--worker-class",
    type=click.Choice(["fork", "simple"]),
    default="fork",
    show_default=True,
    envvar="JOBSVC_WORKER_CLASS",
    help="fork: each task in a forked work-horse; simple: in the worker process.",
)
def worker(pool: str, count: int, burst: bool, worker_class: str) -> None:
    """RQ workers for a pool."""
    try:
        sys.exit(run_workers(pool, count, burst=burst, worker_class=worker_class))
    except JobsvcError as exc:
        raise click.ClickException(exc.message) from None


@cli.command()
@click.option("--burst", is_flag=True, help="Register the jobs, run what is due, exit.")
def scheduler(burst: bool) -> None:
    """rq-scheduler with jobsvc's periodic reconcilers."""
    try:
        run_scheduler(burst=burst)
    except JobsvcError as exc:
        raise click.ClickException(exc.message) from None


# -- tasks --------------------------------------------------------------------------


@cli.command()
@click.argument("deployment")
@click.argument("task_type", metavar="TYPE")
@click.option("--payload", default=None, help="JSON object.")
@click.option("--priority", type=click.Choice(PRIORITIES))
@click.option("--dedupe-key", default=None)
@click.option("--cooldown", type=int, default=None, help="Seconds.")
@click.option("--retries", type=int, default=None)
@click.option("--timeout", type=int, default=None, help="Seconds.")
@click.option("--wait", is_flag=True, help="Wait for the task to end; exit 0 if it completed.")
@click.option("--json", "as_json", is_flag=True)
@service_command
def submit(
    svc: Service,
    deployment: str,
    task_type: str,
    payload: str | None,
    priority: str | None,
    dedupe_key: str | None,
    cooldown: int | None,
    retries: int | None,
    timeout: int | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Queue a task in DEPLOYMENT's lane."""
    try:
        body = json.loads(payload) if payload else None
    except ValueError as exc:
        raise click.ClickException(f"--payload is not JSON: {exc}") from None
    task = svc.submit(
        deployment,
        task_type,
        body,
        priority=priority,
        dedupe_key=dedupe_key,
        cooldown=cooldown,
        retries=retries,
        timeout=timeout,
    )
    if wait:
        task = svc.wait(task.id)
    emit(task.data, as_json, output.task_line)
    if wait and task.status != "completed":
        sys.exit(1)


@cli.command()
@click.option("--deployment", default=None)
@click.option("--json", "as_json", is_flag=True)
@service_command
def status(svc: Service, deployment: str | None, as_json: bool) -> None:
    """Totals by status, type and priority; busy lanes with their active task."""
    if deployment:
        emit(svc.deployment(deployment), as_json, output.deployment_text)
        return
    stats = svc.stats()
    stats["lanes"] = svc.busy_lanes()
    emit(stats, as_json, output.status_text)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the types as JSON.")
@service_command
def types(svc: Service, as_json: bool) -> None:
    """Task types a submit may name: those workers offer (seen within
    JOBSVC_OFFERS_TTL_S), and the built-ins."""
    emit({"types": svc.types()}, as_json, output.types_text)


@cli.command()
@click.argument("task_id")
@click.option("--since", default="0", help="Stream id to resume after (0: from the start).")
@service_command
def tail(svc: Service, task_id: str, since: str) -> None:
    """Print a task's output live; exit 0 if it completed."""
    final = None
    for event in svc.events(task_id, since=since):
        final = output.print_event(event) or final
    if final != "completed":
        sys.exit(1)


def _task_action(name: str, doc: str) -> None:
    @cli.command(name=name, help=doc)
    @click.argument("task_id")
    @click.option("--json", "as_json", is_flag=True)
    @service_command
    def command(svc: Service, task_id: str, as_json: bool) -> None:
        task = getattr(svc, name)(task_id)
        emit(task.data, as_json, output.task_line)


_task_action("cancel", "Cancel a task (a running one is stopped).")
_task_action("skip", "Skip a waiting task.")
_task_action("retry", "Queue a failed or canceled task again.")


def _lane_action(name: str, doc: str) -> None:
    @cli.command(name=name, help=doc)
    @click.argument("deployment")
    @click.option("--json", "as_json", is_flag=True)
    @service_command
    def command(svc: Service, deployment: str, as_json: bool) -> None:
        emit(getattr(svc, name)(deployment), as_json, output.summary_line)


_lane_action("pause", "Start nothing new in DEPLOYMENT's lane.")
_lane_action("resume", "Let DEPLOYMENT's lane run again.")


# -- maintenance -------------------------------------------------------------------


@cli.command()
@click.option("--days", type=float, default=30, show_default=True)
@click.option(
    "--grace",
    type=float,
    default=0,
    show_default=True,
    help="Delete only tasks flagged stale at least this many seconds ago.",
)
@service_command
def cleanup(svc: Service, days: float, grace: float) -> None:
    """Delete tasks that ended more than N days ago (queued and running ones stay)."""
    flagged, deleted = svc.cleanup(days, grace)
    click.echo(f"flagged {flagged} stale task(s), deleted {deleted} ended task(s)")


@cli.command()
@click.option(
    "--timeout",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds to wait for running tasks.",
)
@click.option("--resume", "resume_", is_flag=True, help="Lift the drain.")
@service_command
def drain(svc: Service, timeout: float, resume_: bool) -> None:
    """Start nothing new and wait for running tasks to end (lanes keep accepting)."""
    if resume_:
        report = svc.end_drain()
        click.echo(f"resumed: {output.reconcile_text(report)}")
        return
    still = svc.drain(timeout, output.drain_progress)
    if still:
        raise click.ClickException(
            f"{len(still)} task(s) still running after {timeout:.0f}s: " + " ".join(still)
        )
    click.echo("drained: nothing is running; `jobsvc drain --resume` starts tasks again")


@cli.command()
@service_command
def reconcile(svc: Service) -> None:
    """Once: re-publish orphaned tasks, reap lost attempts, promote idle lanes."""
    report = svc.reconcile()
    click.echo(output.reconcile_text(report))
    if report.failed:
        raise click.ClickException(
            f"{len(report.failed)} lane(s) could not be checked "
            f"(see the log above): {' '.join(report.failed)}"
        )


@cli.command()
@service_command
def check(svc: Service) -> None:
    """Check the Redis in use: reachable, persistent, no eviction, today's key layout."""
    warnings = svc.check()
    for line in warnings:
        click.echo(f"warning: {line}")
    click.echo(f"ok: {redacted(svc.url)}" if not warnings else f"{len(warnings)} warning(s)")


def main() -> None:
    cli(prog_name="jobsvc")
