"""Redis time of a window: what the server spent on the commands this process sent.

INFO commandstats counts a command run inside a Lua script twice: under its
own name, and inside the ``usec`` of the EVALSHA that ran it.  Summing every
``usec`` would count a script's work twice.  So while a window is open, a hook
on redis-py's connections counts the commands this process sends, by name,
and each name contributes only its share of calls that were sent by a client:
a script's time counts once, with everything it ran, and a command only Lua
issued counts not at all.  A name sent both ways (HGET from Python and from
Lua, say) contributes in proportion to its calls (the same mean cost each).

Only meaningful while no other client uses the Redis: the benchmark's own
phases run alone.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from redis import Redis
from redis.connection import AbstractConnection

from bench import rtt


@dataclass
class Window:
    """What one window cost; filled in when it closes."""

    wall_s: float = 0.0
    # Redis time of the commands sent by this process (scripts with what they ran), µs.
    redis_us: float = 0.0
    # redis-server's CPU time over the window (user + system), s: a cross-check.
    cpu_s: float = 0.0
    round_trips: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    # Redis µs per command name sent, the largest first.
    by_command: list[tuple[str, float]] = field(default_factory=list)


@contextmanager
def measure(client: Redis) -> Iterator[Window]:
    """Times the block: wall clock, Redis time of what it sent, redis-server CPU."""
    window = Window()
    stats, cpu, trips = _commandstats(client), _cpu(client), rtt.count()
    start = time.perf_counter()
    with _counting(window.sent):
        yield window
    window.wall_s = time.perf_counter() - start
    window.round_trips = rtt.count() - trips
    window.cpu_s = _cpu(client) - cpu
    after = _commandstats(client)
    shares = {name: _share(after[name], stats.get(name), window.sent[name]) for name in after}
    window.by_command = sorted(((n, us) for n, us in shares.items() if us), key=lambda x: -x[1])
    window.redis_us = sum(shares.values())


def _share(now: dict, before: dict | None, sent: int) -> float:
    calls = now["calls"] - (before or {}).get("calls", 0)
    usec = now["usec"] - (before or {}).get("usec", 0)
    return usec * min(1.0, sent / calls) if calls > 0 else 0.0


def _commandstats(client: Redis) -> dict[str, dict]:
    """Calls and µs by command name; subcommands (``client|setname``, listed
    apart by some Redis versions) fold into their command."""
    out: dict[str, dict] = {}
    for name, value in client.info("commandstats").items():
        total = out.setdefault(name.removeprefix("cmdstat_").split("|")[0], {"calls": 0, "usec": 0})
        total["calls"] += value["calls"]
        total["usec"] += value["usec"]
    return out


def _cpu(client: Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


@contextmanager
def _counting(sent: Counter[str]) -> Iterator[None]:
    """Counts every command redis-py sends in this process, single or pipelined."""
    send_command, pack_commands = AbstractConnection.send_command, AbstractConnection.pack_commands

    def counted_send(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent[command_name(args)] += 1
        return send_command(self, *args, **kwargs)

    def counted_pack(self, commands):  # type: ignore[no-untyped-def]
        commands = list(commands)
        for args in commands:
            sent[command_name(args)] += 1
        return pack_commands(self, commands)

    AbstractConnection.send_command = counted_send  # type: ignore[method-assign]
    AbstractConnection.pack_commands = counted_pack  # type: ignore[method-assign]
    try:
        yield
    finally:
        AbstractConnection.send_command = send_command  # type: ignore[method-assign]
        AbstractConnection.pack_commands = pack_commands  # type: ignore[method-assign]


def command_name(args: tuple) -> str:
    """The command's name as INFO commandstats has it, subcommand left out:
    ``hget``, ``client`` (redis-py sends "CLIENT SETNAME" as one argument)."""
    head = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
    return head.split()[0].lower()
