"""The commands on tasks and lanes: submit, status, types, tail, cancel, skip,
retry, pause, resume."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..dispatch import worker_counts
from ..model import Task
from ..service import DEFAULT_TASKS_LIMIT, Service
from ..states import ENDED, PRIORITIES, Status
from . import output
from .common import emit, json_option, service_command
from .terminal import shown

# The commands of this module, added to the `jobsvc` group by name (click's own registry).
COMMANDS = click.Group()


def follow(
    svc: Service, task_id: str, since: str | None = None, err: bool = False, as_json: bool = False
) -> str | None:
    """Prints a task's events until it ends (output to stderr if ``err``; each event
    as a line of JSON if ``as_json``); returns the last status.  An ended task's
    status line carries its error."""
    final = None
    for event in svc.events(task_id, since=since):
        if event["type"] == "status":
            final = str(event["data"]["status"])
        if as_json:
            click.echo(json.dumps(event))
        elif event["type"] != "status":
            output.print_event(event, err=err)
        else:
            error = svc.get(task_id).error if final in ENDED and final != "completed" else None
            output.print_status(event["data"], error)
    return final


def print_submitted(task: Task, as_json: bool, quiet: bool) -> None:
    """The id alone for a script (not a terminal, or ``--quiet``), the task's line for a
    person; a deduplicated submit says so on stderr, whatever stdout is."""
    if task.deduplicated:
        click.echo(f"deduplicated: returned existing task {task.id}", err=True)
    if as_json:
        emit({**task.data, "deduplicated": task.deduplicated}, True, output.task_line)
    elif quiet or not sys.stdout.isatty():
        click.echo(task.id)
    else:
        emit(task.data, False, output.task_line)


def payload_option(value: str | None) -> Any:
    return json_object(value, "--payload")


def json_object(value: str | None, flag: str) -> Any:
    """An option's JSON (its shape is checked where the API checks it); None if not given."""
    try:
        return json.loads(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=flag) from None


@COMMANDS.command()
@click.argument("deployment")
@click.argument("task_type", metavar="TYPE")
@click.option("--payload", default=None, help="The task's input, a JSON object.")
@click.option("--priority", type=click.Choice(PRIORITIES), help="Lane order [default: medium].")
@click.option(
    "--dedupe-key", default=None, help="While a task with this key is queued or running, return it."
)
@click.option(
    "--cooldown", type=int, default=None, help="Seconds the dedupe key holds after the task ends."
)
@click.option("--retries", type=int, default=None, help="Automatic retries [default: the type's].")
@click.option("--metadata", default=None, help="A JSON object kept with the task, for you.")
@click.option(
    "--key-fields",
    default=None,
    help="A JSON object that names the task for dedupe, instead of --dedupe-key.",
)
@click.option(
    "--depends-on",
    "depends_on",
    multiple=True,
    metavar="ID",
    help="A task that must complete before this one starts (repeatable).",
)
@click.option(
    "--timeout", type=int, default=None, help="Seconds an attempt may run [default: the type's]."
)
@click.option(
    "--wait",
    is_flag=True,
    help="Print the task's output as it runs (as `tail`); exit 0 if it completed.",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Print the task id alone (the default into a pipe)."
)
@json_option
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
    metadata: str | None,
    key_fields: str | None,
    depends_on: tuple[str, ...],
    timeout: int | None,
    wait: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Queue a task in DEPLOYMENT's lane and print its id (ID=$(jobsvc submit ...))."""
    task = svc.submit(
        deployment,
        task_type,
        payload_option(payload),
        priority=priority,
        dedupe_key=dedupe_key,
        cooldown=cooldown,
        retries=retries,
        timeout=timeout,
        metadata=json_object(metadata, "--metadata"),
        key_fields=json_object(key_fields, "--key-fields"),
        depends_on=list(depends_on) or None,
    )
    if not (wait and as_json):
        print_submitted(task, as_json, quiet)
    if not wait:
        return
    final = follow(svc, task.id, err=as_json)
    if as_json:
        print_submitted(Task(svc.get(task.id).data, task.deduplicated), True, quiet)
    if final != "completed":
        sys.exit(1)


@COMMANDS.command()
@click.option("--deployment", default=None, help="Show this deployment's lane and queue.")
@json_option
@service_command
def status(svc: Service, deployment: str | None, as_json: bool) -> None:
    """Totals by status, type and priority; workers per pool, busy and idle; busy
    lanes with their active task."""
    if deployment:
        emit(svc.deployment(deployment), as_json, output.deployment_text)
        return
    stats = svc.stats()
    stats["pools"] = worker_counts(stats["workers"])
    stats["lanes"] = svc.busy_lanes()
    emit(stats, as_json, output.status_text)


@COMMANDS.command()
@json_option
@service_command
def types(svc: Service, as_json: bool) -> None:
    """Task types a submit may name: those workers offer (seen within
    JOBSVC_OFFERS_TTL_S), and the built-ins."""
    emit({"types": svc.types()}, as_json, output.types_text)


@COMMANDS.command(name="list")
@click.option("--deployment", default=None, help="Only this deployment's tasks.")
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only this status.")
@click.option("--type", "type_", default=None, metavar="TYPE", help="Only this task type.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=DEFAULT_TASKS_LIMIT,
    show_default=True,
    help="At most this many tasks, newest first.",
)
@json_option
@service_command
def list_command(
    svc: Service,
    deployment: str | None,
    status: str | None,
    type_: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Tasks newest first, one line each (read page by page)."""
    tasks = svc.list(deployment=deployment, status=status, type=type_, limit=limit)
    if as_json:
        emit([task.data for task in tasks], True, str)
        return
    for task in tasks:
        emit(task.data, False, output.task_line)


@COMMANDS.command()
@click.argument("task_id")
@click.option("--since", default="0", help="Event id to resume after (0: from the start).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print each event as a line of JSON (the API's shape)."
)
@service_command
def tail(svc: Service, task_id: str, since: str, as_json: bool) -> None:
    """Print a task's output live, then how it ended; exit 0 if it completed."""
    if follow(svc, task_id, since, as_json=as_json) != "completed":
        sys.exit(1)


def _task_action(name: str, doc: str) -> None:
    @COMMANDS.command(name=name, help=doc)
    @click.argument("task_id")
    @json_option
    @service_command
    def command(svc: Service, task_id: str, as_json: bool) -> None:
        task = getattr(svc, name)(task_id)
        emit(task.data, as_json, output.task_line)


_task_action("cancel", "Cancel a task (a running one is stopped).")
_task_action("skip", "Skip a waiting task.")


@COMMANDS.command()
@click.argument("task_id")
@click.option(
    "--from-start",
    is_flag=True,
    help="Run every step again (clears the completed steps and ctx.state).",
)
@json_option
@service_command
def retry(svc: Service, task_id: str, from_start: bool, as_json: bool) -> None:
    """Queue a failed or canceled task again; it resumes after its completed steps."""
    emit(svc.retry(task_id, from_start=from_start).data, as_json, output.task_line)


@COMMANDS.command()
@click.argument("task_id")
@json_option
@service_command
def show(svc: Service, task_id: str, as_json: bool) -> None:
    """A task's fields, steps and history."""
    emit(svc.get(task_id).data, as_json, output.task_text)


@COMMANDS.command(name="log")
@click.argument("task_id")
@json_option
@service_command
def log_command(svc: Service, task_id: str, as_json: bool) -> None:
    """A task's whole output so far (as /tasks/{id}/log), step markers included."""
    if as_json:
        emit({"id": task_id, "log": svc.log(task_id)}, True, str)
        return
    click.echo(shown(svc.log(task_id), sys.stdout.isatty()), nl=False, color=True)


def _lane_action(name: str, doc: str) -> None:
    @COMMANDS.command(name=name, help=doc)
    @click.argument("deployment")
    @json_option
    @service_command
    def command(svc: Service, deployment: str, as_json: bool) -> None:
        emit(getattr(svc, name)(deployment), as_json, output.summary_line)


_lane_action("pause", "Start nothing new in DEPLOYMENT's lane.")
_lane_action("resume", "Let DEPLOYMENT's lane run again.")
