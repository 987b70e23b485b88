"""The registry of task types: the only code a task can run, by name.

Client input names a type, never a callable or a module: submit looks the
name up here and refuses anything unknown.  Modules register their types
with ``@task`` when imported (``loader`` imports them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..dispatch import check_pool
from ..policy import pool_timeout_s
from ..settings import DEFAULT_MAX_RETRIES, DEFAULT_POOL, DEFAULT_TIMEOUT_S
from ..task_secrets import SecretNames, check_names

Handler = Callable[[Any, dict[str, Any]], Any]
# A preflight check returns None when all is well, else the reason it failed (422).
Preflight = Callable[[dict[str, Any]], "str | None"]
# A payload check returns None when the payload fits the type, else what is wrong (400);
# it may instead raise InvalidInput naming the exact field (e.g. ``payload.args.name``).
Validator = Callable[[dict[str, Any]], "str | None"]


@dataclass(frozen=True)
class TaskType:
    name: str
    handler: Handler
    pool: str = DEFAULT_POOL
    timeout: int = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_MAX_RETRIES
    # Base of the exponential backoff in seconds; None takes the setting.
    backoff: float | None = None
    cooldown: int = 0
    preflight: tuple[Preflight, ...] = field(default_factory=tuple)
    validate: Validator | None = None
    # Seconds without output or ctx.heartbeat() before a run counts as stalled;
    # None takes JOBSVC_STALL_S.
    stall_timeout: int | None = None
    # The secrets each attempt reads before the handler runs (task_secrets.py):
    # names, or a function of the payload that returns them.
    secrets: SecretNames = ()

    def secret_names(self, payload: dict[str, Any]) -> tuple[str, ...]:
        """The names of the secrets an attempt with ``payload`` needs."""
        if callable(self.secrets):
            return check_names(self.secrets(payload), f"task type {self.name!r}")
        return tuple(self.secrets)


_TYPES: dict[str, TaskType] = {}


def task(
    name: str,
    *,
    pool: str = DEFAULT_POOL,
    timeout: int | None = None,
    retries: int = DEFAULT_MAX_RETRIES,
    backoff: float | None = None,
    cooldown: int = 0,
    preflight: Preflight | list[Preflight] | tuple[Preflight, ...] = (),
    validate: Validator | None = None,
    stall_timeout: int | None = None,
    secrets: SecretNames = (),
) -> Callable[[Handler], Handler]:
    """Registers ``handler(ctx, payload)`` as the task type ``name``.

    ``pool`` places it: a worker of that pool runs it (``standard``, ``long``, or
    any other name, which makes a pool of its own).  Without ``timeout`` an
    attempt may run as long as the pool allows (``policy.pool_timeout_s``).
    ``secrets`` names the secrets its handler gets as ``ctx.secrets``; a bad
    name is refused here, when the module is imported, not at a task's run.
    """

    checks = (preflight,) if callable(preflight) else tuple(preflight)
    check_pool(pool)
    timeout_s = pool_timeout_s(pool) if timeout is None else timeout
    if not callable(secrets):
        secrets = check_names(secrets, f"task type {name!r}")

    def register(handler: Handler) -> Handler:
        _TYPES[name] = TaskType(
            name,
            handler,
            pool,
            timeout_s,
            retries,
            backoff,
            cooldown,
            checks,
            validate,
            stall_timeout,
            secrets,
        )
        return handler

    return register


def get(name: str) -> TaskType | None:
    return _TYPES.get(name)


def names() -> list[str]:
    return sorted(_TYPES)


def types() -> list[TaskType]:
    """Every registered type, by name."""
    return [_TYPES[name] for name in sorted(_TYPES)]
