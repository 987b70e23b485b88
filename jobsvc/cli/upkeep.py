"""The maintenance commands: cleanup, drain, reconcile, check."""

from __future__ import annotations

import dataclasses

import click

from ..connection import redacted
from ..processes.retention import DEFAULT_DAYS
from ..service import Service
from . import output
from .common import emit, json_option, service_command

# The commands of this module, added to the `jobsvc` group by name (click's own registry).
COMMANDS = click.Group()


@COMMANDS.command()
@click.option(
    "--days",
    type=float,
    default=DEFAULT_DAYS,
    show_default=True,
    help="Delete tasks ended before this.",
)
@click.option(
    "--grace",
    type=float,
    default=0,
    show_default=True,
    help="Delete only tasks flagged stale at least this many seconds ago.",
)
@click.option("--dry-run", is_flag=True, help="Print the tasks it would delete; change nothing.")
@json_option
@service_command
def cleanup(svc: Service, days: float, grace: float, dry_run: bool, as_json: bool) -> None:
    """Delete tasks that ended more than N days ago (queued and running ones stay)."""
    if as_json:
        would: list[str] = []
        flagged, deleted = svc.cleanup(days, grace, dry_run=dry_run, on_delete=would.append)
        report = {"flagged": flagged, "deleted": deleted, "dryRun": dry_run}
        emit({**report, "wouldDelete": would} if dry_run else report, True, str)
    elif not dry_run:
        flagged, deleted = svc.cleanup(days, grace)
        click.echo(f"flagged {flagged} stale task(s), deleted {deleted} ended task(s)")
        dropped = svc.cleanup_deliveries()
        if dropped:
            click.echo(f"deleted {dropped} webhook delivery record(s) past their retention")
    else:
        flagged, deleted = svc.cleanup(
            days, grace, dry_run=True, on_delete=lambda tid: click.echo(f"would delete {tid}")
        )
        click.echo(
            f"dry run: would flag {flagged} stale task(s), would delete {deleted} ended task(s)"
        )


@COMMANDS.command()
@click.option(
    "--timeout",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds to wait for running tasks.",
)
@click.option("--resume", "resume_", is_flag=True, help="Lift the drain.")
@json_option
@service_command
def drain(svc: Service, timeout: float, resume_: bool, as_json: bool) -> None:
    """Start nothing new and wait for running tasks to end (lanes keep accepting)."""
    if resume_:
        report = svc.end_drain()
        if as_json:
            emit(dataclasses.asdict(report), True, str)
        else:
            click.echo(f"resumed: {output.reconcile_text(report)}")
        return
    still = svc.drain(timeout, (lambda _running: None) if as_json else output.drain_progress)
    if as_json:
        emit({"drained": not still, "stillRunning": still}, True, str)
    if still:
        raise click.ClickException(
            f"{len(still)} task(s) still running after {timeout:.0f}s: " + " ".join(still)
        )
    if not as_json:
        click.echo("drained: nothing is running; `jobsvc drain --resume` starts tasks again")


@COMMANDS.command()
@json_option
@service_command
def reconcile(svc: Service, as_json: bool) -> None:
    """Once: re-publish orphaned tasks, reap lost attempts, promote idle lanes."""
    report = svc.reconcile()
    if as_json:
        emit(dataclasses.asdict(report), True, str)
    else:
        click.echo(output.reconcile_text(report))
    if report.failed:
        raise click.ClickException(
            f"{len(report.failed)} lane(s) could not be checked "
            f"(see the log above): {' '.join(report.failed)}"
        )


@COMMANDS.command()
@click.option("--warn-only", is_flag=True, help="Exit 0 even with warnings.")
@json_option
@service_command
def check(svc: Service, warn_only: bool, as_json: bool) -> None:
    """Check the Redis in use: reachable, persistent, no eviction, today's key layout;
    exit 1 on a warning (for a deploy script or a health check)."""
    warnings = svc.check()
    if as_json:
        emit({"ok": not warnings, "redisUrl": redacted(svc.url), "warnings": warnings}, True, str)
    for line in [] if as_json else warnings:
        click.echo(f"warning: {line}")
    if not warnings and not as_json:
        click.echo(f"ok: {redacted(svc.url)}")
    elif warnings and not warn_only:
        raise click.ClickException(f"{len(warnings)} warning(s) about {redacted(svc.url)}")
    elif warnings and not as_json:
        click.echo(f"{len(warnings)} warning(s)")
