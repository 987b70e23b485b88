"""How the CLI prints things for a person (``--json`` prints the data instead)."""

from __future__ import annotations

import json
import shutil
import sys
from typing import Any

import click

from ..dispatch import BUSY, IDLE, NO_POOL, worker_counts
from .terminal import shown


def task_line(task: dict[str, Any]) -> str:
    pos = "" if task.get("position") is None else f" position={task['position']}"
    line = (
        f"{task['id']}  {task['deployment']}  {task['type']}  {task['status']}"
        f"  priority={task['priority']}{pos}  retries={task['retryCount']}"
    )
    if task.get("error"):
        line += f"  error={task['error'].get('reason')}: {task['error'].get('message')}"
    return line


def task_text(task: dict[str, Any]) -> str:
    """`jobsvc show`: the task's line, its times and outcome, its steps, its history."""
    lines = [task_line(task)]
    for name in ("createdAt", "startedAt", "completedAt"):
        if task.get(name):
            lines.append(f"  {name}: {task[name]}")
    if task.get("result") is not None:
        lines.append(f"  result: {brief(task['result'])}")
    for name in ("dependsOn", "waitingOn"):
        if task.get(name):
            lines.append(f"  {name}: {' '.join(task[name])}")
    lines += steps_lines(task.get("steps") or [])
    lines.append("history:")
    for entry in task["history"]:
        reason = f"  ({entry['reason']})" if entry.get("reason") else ""
        lines.append(f"  {entry['at']}  {entry['status']}{reason}")
    return "\n".join(lines)


def brief(value: Any, limit: int = 200) -> str:
    """A value as JSON on one line, cut at ``limit`` characters (``--json`` has it whole)."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "…"


def steps_lines(steps: list[dict[str, Any]]) -> list[str]:
    """One line per step: place, name, status, runs, and its error or result."""
    if not steps:
        return []
    lines = ["steps:"]
    for k, step in enumerate(steps, 1):
        if step.get("error"):
            outcome = f"  error={step['error'].get('type')}: {step['error'].get('message')}"
        elif step["status"] == "completed":
            outcome = f"  result={brief(step.get('result'))}"
        else:
            outcome = ""
        lines.append(
            f"  {k:>3}  {step['name']:<20} {step['status']:<9} attempts={step['attempts']}{outcome}"
        )
    return lines


def summary_line(s: dict[str, Any]) -> str:
    active = f"{s['activeTaskId']} ({s['activeTaskStatus']})" if s.get("activeTaskId") else "idle"
    paused = "  PAUSED" if s.get("paused") else ""
    return f"{s['deployment']:<24} {active:<30} waiting={s['queueDepth']}{paused}"


def deployment_text(d: dict[str, Any]) -> str:
    lines = [summary_line(d)]
    lines += [f"  {t['position']:>3}  {task_line(t)}" for t in d.get("queue", [])]
    return "\n".join(lines)


def _table(title: str, counts: dict[str, Any]) -> list[str]:
    if not counts:
        return [f"{title}: none"]
    lines = [f"{title}:"]
    for name, value in sorted(counts.items()):
        shown = (
            value
            if isinstance(value, int)
            else "  ".join(f"{k}={v}" for k, v in sorted(value.items()))
        )
        lines.append(f"  {name:<16} {shown}")
    return lines


def status_text(stats: dict[str, Any]) -> str:
    lines = ["tasks by status: " + "  ".join(f"{k}={v}" for k, v in stats["byStatus"].items())]
    if stats.get("draining"):
        lines.insert(0, "DRAINING: nothing new starts (`jobsvc drain --resume` lifts it)")
    lines += _table("by type", stats["byType"])
    lines += _table("by priority", stats["byPriority"])
    lines.append(f"in cooldown: {stats['inCooldown']}")
    lines += workers_lines(stats["workers"])
    lines.append(f"busy lanes: {len(stats['lanes'])}")
    lines += ["  " + summary_line(s) for s in stats["lanes"]]
    return "\n".join(lines)


def workers_lines(workers: list[dict[str, Any]]) -> list[str]:
    """`jobsvc status`' workers: per pool, how many are busy and idle, then each busy
    worker with the task it runs."""
    lines = [f"workers: {len(workers)}"]
    for pool, counts in sorted(worker_counts(workers).items()):
        lines.append(f"  {pool:<16} busy={counts[BUSY]}  idle={counts[IDLE]}")
        for w in sorted(workers, key=lambda w: str(w["name"])):
            if (w.get("pool") or NO_POOL) == pool and w["state"] == BUSY:
                lines.append(f"    {w['name']}  running {w.get('currentJobId') or '-'}")
    return lines


def reconcile_text(report: Any) -> str:
    return (
        f"republished {len(report.republished)} orphaned task(s), "
        f"reaped {len(report.reaped)} lost attempt(s), "
        f"stopped {len(report.stalled)} stalled or overdue attempt(s), "
        f"promoted {len(report.promoted)} idle lane(s)"
    )


def drain_progress(running: int) -> None:
    """The live count of a waiting drain: redrawn in place on a terminal."""
    tty = sys.stdout.isatty()
    start = "\r" if tty else ""
    click.echo(f"{start}draining: {running} task(s) running ", nl=not tty or running == 0)


# What a terminal does on `\r` + erase-line: back to the start of the line, cleared.
CLEAR_LINE = "\r\033[K"


def progress_bar(percent: float, message: str, width: int = 30) -> str:
    filled = int(width * max(0.0, min(100.0, percent)) / 100)
    return f"[{'#' * filled}{'.' * (width - filled)}] {percent:5.1f}% {message}"


def one_row(line: str, columns: int) -> str:
    """The line cut to fit one row of the terminal (with one column spare): a
    wrapped bar would leave its first row behind at every redraw."""
    return line if len(line) < columns else line[: max(columns - 2, 0)] + "…"


def print_event(event: dict[str, Any], *, err: bool = False) -> None:
    """Prints one output event (log, progress, step) for a person, to stderr if ``err``.

    Progress redraws one line in place on a terminal (cleared first, cut to
    the terminal's width), and that line is cleared before an output line
    or a step is printed on a line of its own; into a pipe each progress
    event is a plain line of its own.  What the task wrote is
    neutralised on a terminal and passed through exactly otherwise
    (``terminal``); ``color=True`` keeps click from stripping part of it.
    """
    data = event["data"]
    tty = (sys.stderr if err else sys.stdout).isatty()
    if event["type"] == "progress":
        message = shown(str(data.get("message", "")), tty, one_line=True)
        bar = progress_bar(float(data.get("percent", 0)), message)
        if tty:
            bar = CLEAR_LINE + one_row(bar, shutil.get_terminal_size().columns)
        click.echo(bar, nl=not tty, err=err, color=True)
        return
    if tty:
        click.echo(CLEAR_LINE, nl=False, err=err)
    if event["type"] == "log":
        click.echo(shown(data["line"], tty), err=err, color=True)
    elif event["type"] == "step":
        name = shown(str(data.get("name")), tty, one_line=True)
        click.echo(f"== step {name}: {data.get('status')}", err=err, color=True)


def print_status(data: dict[str, Any], error: dict[str, Any] | None = None) -> None:
    """A status change on stderr, a line of its own: ``-- failed (exception): ValueError: boom``.

    Ends with the task's error when it has one, so a script's log says why
    without a second command.  The error is the task code's text: neutralised
    on a terminal like its output.
    """
    tty = sys.stderr.isatty()
    for err in (False, True):  # a progress bar may be left on either
        if (sys.stderr if err else sys.stdout).isatty():
            click.echo(CLEAR_LINE, nl=False, err=err)
    line = f"-- {data['status']}" + (f" ({data['reason']})" if data.get("reason") else "")
    detail = error_text(error, data.get("reason"))
    if detail:
        line += f": {detail}"
    click.echo(shown(line, tty, one_line=True), err=True, color=True)


def error_text(error: dict[str, Any] | None, reason: str | None) -> str:
    """``ValueError: boom`` from a task's error, without repeating the reason."""
    if not error:
        return ""
    parts = [str(error[k]) for k in ("type", "message") if error.get(k) and error[k] != reason]
    return ": ".join(parts)


def types_text(listing: dict[str, Any]) -> str:
    """`jobsvc types`: one line per type; "last seen" is when a worker last offered it."""
    lines = [f"{'TYPE':<24} {'POOL':<12} {'TIMEOUT':>8} {'RETRIES':>7}  LAST SEEN"]
    for t in listing["types"]:
        seen = t["lastSeen"] or ("built-in, no worker yet" if t["builtin"] else "-")
        lines.append(
            f"{t['name']:<24} {t['pool']:<12} {t['timeoutS']:>7}s {t['maxRetries']:>7}  {seen}"
        )
    return "\n".join(lines)
