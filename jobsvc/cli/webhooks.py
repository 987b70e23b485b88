"""The webhook commands: list deliveries, redeliver one."""

from __future__ import annotations

from typing import Any

import click

from ..service import DEFAULT_DELIVERIES_LIMIT, Service
from ..webhooks.model import DELIVERY_STATUSES
from .common import emit, json_option, service_command

# The commands of this module, added to the `jobsvc` group by name (click's own registry).
COMMANDS = click.Group()


def delivery_line(d: dict[str, Any]) -> str:
    """One delivery for a person: id, event, task, status, tries, last answer, URL."""
    code = d["lastStatusCode"] if d["lastStatusCode"] is not None else "-"
    line = (
        f"{d['id']}  {d['event']:<14}  {d['taskId']}  {d['status']:<9}"
        f"  attempts={d['attempts']}  last={code}  {d['url']}"
    )
    if d.get("lastError") and d["status"] != "delivered":
        line += f"  error={d['lastError']}"
    return line


@COMMANDS.command()
@click.option("--status", type=click.Choice(DELIVERY_STATUSES), help="Only this status.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=DEFAULT_DELIVERIES_LIMIT,
    show_default=True,
    help="At most this many deliveries, newest first.",
)
@json_option
@service_command
def webhooks(svc: Service, status: str | None, limit: int, as_json: bool) -> None:
    """Webhook deliveries newest first, one line each (read page by page)."""
    deliveries = svc.deliveries(status=status, limit=limit)
    if as_json:
        emit(list(deliveries), True, str)
        return
    for delivery in deliveries:
        emit(delivery, False, delivery_line)


@COMMANDS.command()
@click.argument("delivery_id")
@json_option
@service_command
def redeliver(svc: Service, delivery_id: str, as_json: bool) -> None:
    """Queue a delivered or failed webhook delivery again (same webhook-id)."""
    emit(svc.redeliver(delivery_id), as_json, delivery_line)
