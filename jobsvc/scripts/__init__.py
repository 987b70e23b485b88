"""Loads the Lua scripts: one file per state transition, each run atomically.

Every script gets ``_lib.lua`` in front of it, after a first line defining
``PREFIX`` and ``CFG`` (limits from the settings, ``policy.ORPHAN_GRACE_S``
for the reconciler's index, the webhook subscriptions' matching data, and what
/metrics tallies: ``policy``'s bucket bounds and repair kinds).  Scripts are registered
once per client; redis-py's ``Script`` runs them by SHA and reloads them if a
restarted Redis forgot them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from redis import Redis
from redis.commands.core import Script

from .. import keys
from ..policy import ORPHAN_GRACE_S, REPAIR_KINDS, RUN_BUCKETS_S, US, WAIT_BUCKETS_S
from ..settings import Settings
from ..webhooks.config import Subscription
from ..webhooks.model import SNAPSHOT_FIELDS

HERE = Path(__file__).parent
NAMES = (
    "submit",
    "claim",
    "heartbeat",
    "output",
    "finish",
    "cancel",
    "skip",
    "requeue",
    "pause",
    "take_due",
    "promote",
    "republish",
    "reap",
    "get_tasks",
    "summaries",
    "delete_task",
    "flag_stale",
    "offer_types",
    "reschedule",
    "sweep",
    "popped",
    "step_start",
    "step_end",
    "save_state",
    "hook_take",
    "hook_end",
    "hook_redeliver",
    "hook_drop",
)
# Cap on the dashboard change feed, in entries: viewers resume from it.
DASHBOARD_MAXLEN = 10_000


@cache
def _read(name: str) -> str:
    return (HERE / f"{name}.lua").read_text()


def lua_text(value: str) -> str:
    """A Lua string literal of ``value``, every byte but letters and digits escaped
    (configuration text, such as a URL, can then hold no Lua of its own)."""
    safe = (
        chr(b) if chr(b).isascii() and chr(b).isalnum() else f"\\{b:03d}" for b in value.encode()
    )
    return '"' + "".join(safe) + '"'


def lua_list(items: list[str]) -> str:
    return "{ " + ", ".join(lua_text(x) for x in items) + " }"


def lua_hooks(subscriptions: tuple[Subscription, ...]) -> str:
    """CFG.hooks: what the outbox matches on (``_lib.lua``'s ``outbox``), never a secret:
    a script's text lives in Redis' script cache."""
    entries = []
    for sub in subscriptions:
        events = ", ".join(f"[{lua_text(e)}] = true" for e in sorted(sub.events))
        entries.append(
            f"{{ id = {lua_text(sub.id)}, url = {lua_text(sub.shown_url)}, "
            f"events = {{ {events} }}, deployments = {lua_list(sub.lua_patterns())} }}"
        )
    return "{ " + ", ".join(entries) + " }"


def _lua_us_list(values: tuple[float, ...]) -> str:
    """Bucket bounds in seconds as a Lua list of µs."""
    return "{ " + ", ".join(str(int(v * US)) for v in values) + " }"


def _tally_cfg() -> str:
    """The CFG entries of the tallies (_lib.lua's ``observe_end``, ``observe_wait``,
    ``repaired``): bucket bounds in µs, and the repair kinds as a set."""
    kinds = ", ".join(f"{k} = true" for k in REPAIR_KINDS)
    return (
        f"run_buckets_us = {_lua_us_list(RUN_BUCKETS_S)}, "
        f"wait_buckets_us = {_lua_us_list(WAIT_BUCKETS_S)}, repair_kinds = {{ {kinds} }}"
    )


def source(name: str, settings: Settings) -> str:
    """The full text Redis runs for one script."""
    cfg = (
        f"local PREFIX = '{keys.PREFIX}'\n"
        f"local CFG = {{ events_maxlen = {settings.events_maxlen}, "
        f"events_ttl = {settings.events_ttl_s}, log_max_bytes = {settings.log_max_bytes}, "
        f"dashboard_maxlen = {DASHBOARD_MAXLEN}, "
        f"orphan_grace_us = {int(ORPHAN_GRACE_S * US)}, "
        f"{_tally_cfg()}, hooks = {lua_hooks(settings.webhooks)}, "
        f"snapshot_fields = {lua_list(list(SNAPSHOT_FIELDS))} }}\n"
    )
    return cfg + _read("_lib") + "\n" + _read(name)


@dataclass
class Scripts:
    """The registered scripts of one Redis client, called by name."""

    client: Redis
    settings: Settings
    _scripts: dict[str, Script] = field(default_factory=dict[str, Any])

    def __post_init__(self) -> None:
        for name in NAMES:
            self._scripts[name] = self.client.register_script(source(name, self.settings))

    def __call__(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return self._scripts[name](keys=keys, args=args)
