"""One typed settings object, read from ``JOBSVC_*`` environment variables.

The CLI, the web app, the workers and the scheduler all build their
configuration here, so a variable means the same thing in every process.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .types.sandbox import Command, parse_allowlist
from .webhooks.config import Subscription, parse_webhooks

# Largest request body the API reads; the contract's default.
DEFAULT_MAX_BODY = 256 * 1024
# How long an attempt's lease lives without a heartbeat; detection time of a lost worker.
DEFAULT_LEASE_S = 15.0
# Hard timeout of a task whose type and submission name none.
DEFAULT_TIMEOUT_S = 600
# Retries of a task whose type and submission name none.
DEFAULT_MAX_RETRIES = 0
# Base of the exponential retry backoff, in seconds.
DEFAULT_BACKOFF_S = 1.0
# Cap on one task's stored output (the /log endpoint), in bytes.
DEFAULT_LOG_MAX_BYTES = 8 * 1024 * 1024
# Cap on one output line (ctx.log, a shell child's line), in bytes; a longer one is cut
# and marked, so no single line can overshoot the log cap or an event's size.
LOG_LINE_MAX_BYTES = 64 * 1024
# Cap on one lane's live event stream (its tasks' events: mostly the running
# one's, since a lane runs one task at a time), in entries.
DEFAULT_EVENTS_MAXLEN = 20_000
# How long a lane's events are kept for late viewers once its active task has
# ended, in seconds.  A stream costs at least 4 KB; after it expires the
# output stays at /log and a late viewer gets the final status from the history.
DEFAULT_EVENTS_TTL_S = 300
# How long `POST /tasks/{id}/cancel` waits for a running task to stop, in seconds.
DEFAULT_CANCEL_WAIT_S = 10.0
# Seconds between keep-alives on an idle live stream (SSE comment, WebSocket check).
DEFAULT_KEEPALIVE_S = 15.0
# A running task with no output nor ctx.heartbeat() this long is stalled (per type overrides).
DEFAULT_STALL_S = 600.0
# How long a worker told to stop (SIGTERM) lets its current task run before stopping it.
DEFAULT_SHUTDOWN_S = 60.0
# Period of the reconcile pass, in seconds (orphans, lost attempts, stalls).
DEFAULT_RECONCILE_S = 10.0
# Where `jobsvc up` keeps its Redis data and its lock (JOBSVC_DATA_DIR).
DEFAULT_DATA_DIR = Path(".jobsvc")
# How long a task type a worker published stays offered without being published
# again, in seconds: a submit of a type no worker offered within it is a 422
# (types/offers.py).  Workers publish at start and every fifth of this.
DEFAULT_OFFERS_TTL_S = 600.0
# Worker pool served when none is named; its types' timeout is DEFAULT_TIMEOUT_S.
DEFAULT_POOL = "standard"
# The built-in pool for long work (`@task(pool="long")`, the Procfile's worker-long).
LONG_POOL = "long"
# Hard timeout of a long-pool type that names none: six hours, for a data migration.
LONG_TIMEOUT_S = 6 * 3600
# Timeout of a type that names none, per built-in pool; any other pool name makes a
# pool of its own whose types take DEFAULT_TIMEOUT_S (``policy.pool_timeout_s``).
POOL_TIMEOUTS_S = {DEFAULT_POOL: DEFAULT_TIMEOUT_S, LONG_POOL: LONG_TIMEOUT_S}
# Where `jobsvc web` and `jobsvc up` listen (JOBSVC_HOST, JOBSVC_PORT; gunicorn reads PORT).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# Threads per web process (JOBSVC_WEB_THREADS).  Each live viewer (SSE or WebSocket)
# holds one for as long as it watches, so this is how many viewers one process
# serves; gunicorn's gthread worker starts them only as connections arrive.
DEFAULT_WEB_THREADS = 1024
# Webhook deliveries: the first retry's delay in seconds (doubling after each
# failed try, with jitter), the tries before a delivery is failed, how long one
# try may wait for an answer (the contract's 10 s), and how long delivered and
# failed deliveries are kept (retention) in seconds.
DEFAULT_WEBHOOK_BACKOFF_S = 5.0
DEFAULT_WEBHOOK_MAX_ATTEMPTS = 8
DEFAULT_WEBHOOK_TIMEOUT_S = 10.0
DEFAULT_WEBHOOK_RETENTION_S = 7 * 86_400.0


def _parse_tokens(raw: str, var: str) -> dict[str, str]:
    """``name:token`` or bare ``token`` entries, comma separated -> {token: name}."""
    tokens: dict[str, str] = {}
    for i, entry in enumerate(x.strip() for x in raw.split(",")):
        if not entry:
            continue
        name, sep, token = entry.partition(":")
        if not sep:
            name, token = f"token{i + 1}", entry
        if not token:
            raise ConfigError(f"{var}: entry {i + 1} has an empty token")
        tokens[token] = name
    return tokens


def _read_float(env: Mapping[str, str], var: str, default: float) -> float:
    raw = env.get(var)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{var} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{var} must be positive, got {raw!r}")
    return value


def _read_recurring(env: Mapping[str, str]) -> tuple[dict[str, Any], ...]:
    """``JOBSVC_RECURRING`` (a JSON list), plus the list in ``JOBSVC_RECURRING_FILE``.

    Each entry: ``{"name", "cron", "deployment", "type", ...submit fields}``.
    """
    entries: list[dict[str, Any]] = []
    sources = [("JOBSVC_RECURRING", env.get("JOBSVC_RECURRING", ""))]
    if env.get("JOBSVC_RECURRING_FILE"):
        try:
            sources.append(
                (env["JOBSVC_RECURRING_FILE"], Path(env["JOBSVC_RECURRING_FILE"]).read_text())
            )
        except OSError as exc:
            raise ConfigError(f"JOBSVC_RECURRING_FILE: {exc}") from None
    for where, raw in sources:
        try:
            data = json.loads(raw) if raw.strip() else []
        except ValueError as exc:
            raise ConfigError(f"{where} is not JSON: {exc}") from None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise ConfigError(f"{where} must be a JSON list of objects")
        entries += data
    names = [d.get("name") for d in entries]
    for d in entries:
        name = d.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
            raise ConfigError(f"recurring task name {d.get('name')!r} must match [A-Za-z0-9._-]")
        if names.count(d["name"]) > 1:
            raise ConfigError(f"recurring task name {d['name']!r} is used twice")
    return tuple(entries)


def _read_webhooks(env: Mapping[str, str]) -> dict[str, object]:
    """The webhook subscriptions and how their deliveries are tried."""
    attempts = _read_float(env, "JOBSVC_WEBHOOK_MAX_ATTEMPTS", DEFAULT_WEBHOOK_MAX_ATTEMPTS)
    if attempts != int(attempts):
        raise ConfigError(f"JOBSVC_WEBHOOK_MAX_ATTEMPTS must be a whole number, got {attempts:g}")
    return dict(
        webhooks=parse_webhooks(env),
        webhook_backoff_s=_read_float(env, "JOBSVC_WEBHOOK_BACKOFF_S", DEFAULT_WEBHOOK_BACKOFF_S),
        webhook_max_attempts=int(attempts),
        webhook_timeout_s=_read_float(env, "JOBSVC_WEBHOOK_TIMEOUT_S", DEFAULT_WEBHOOK_TIMEOUT_S),
        webhook_retention_s=_read_float(
            env, "JOBSVC_WEBHOOK_RETENTION_S", DEFAULT_WEBHOOK_RETENTION_S
        ),
    )


@dataclass(frozen=True)
class Settings:
    """Everything a jobsvc process is configured with."""

    redis_url: str | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    api_tokens: dict[str, str] = field(default_factory=dict[str, Any])
    read_tokens: dict[str, str] = field(default_factory=dict[str, Any])
    task_modules: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    lease_s: float = DEFAULT_LEASE_S
    backoff_s: float = DEFAULT_BACKOFF_S
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES
    events_maxlen: int = DEFAULT_EVENTS_MAXLEN
    events_ttl_s: int = DEFAULT_EVENTS_TTL_S
    cancel_wait_s: float = DEFAULT_CANCEL_WAIT_S
    keepalive_s: float = DEFAULT_KEEPALIVE_S
    stall_s: float = DEFAULT_STALL_S
    shutdown_s: float = DEFAULT_SHUTDOWN_S
    reconcile_s: float = DEFAULT_RECONCILE_S
    offers_ttl_s: float = DEFAULT_OFFERS_TTL_S
    shell_allowlist: dict[str, Command] = field(default_factory=dict[str, Any])
    recurring: tuple[dict[str, Any], ...] = ()
    # Where workers read task secrets from, one file per name (task_secrets.py).
    secrets_dir: Path | None = None
    webhooks: tuple[Subscription, ...] = ()
    webhook_backoff_s: float = DEFAULT_WEBHOOK_BACKOFF_S
    webhook_max_attempts: int = DEFAULT_WEBHOOK_MAX_ATTEMPTS
    webhook_timeout_s: float = DEFAULT_WEBHOOK_TIMEOUT_S
    webhook_retention_s: float = DEFAULT_WEBHOOK_RETENTION_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        raw_modules = env.get("JOBSVC_TASK_MODULES", "").split(",")
        modules = tuple(m.strip() for m in raw_modules if m.strip())
        values: dict[str, object] = dict(
            redis_url=env.get("JOBSVC_REDIS_URL") or None,
            data_dir=Path(env.get("JOBSVC_DATA_DIR") or DEFAULT_DATA_DIR),
            api_tokens=_parse_tokens(env.get("JOBSVC_API_TOKENS", ""), "JOBSVC_API_TOKENS"),
            read_tokens=_parse_tokens(env.get("JOBSVC_READ_TOKENS", ""), "JOBSVC_READ_TOKENS"),
            task_modules=modules,
            max_body=int(_read_float(env, "JOBSVC_MAX_BODY", DEFAULT_MAX_BODY)),
            lease_s=_read_float(env, "JOBSVC_LEASE_S", DEFAULT_LEASE_S),
            backoff_s=_read_float(env, "JOBSVC_BACKOFF_S", DEFAULT_BACKOFF_S),
            log_max_bytes=int(_read_float(env, "JOBSVC_LOG_MAX_BYTES", DEFAULT_LOG_MAX_BYTES)),
            events_maxlen=int(_read_float(env, "JOBSVC_EVENTS_MAXLEN", DEFAULT_EVENTS_MAXLEN)),
            events_ttl_s=int(_read_float(env, "JOBSVC_EVENTS_TTL_S", DEFAULT_EVENTS_TTL_S)),
            cancel_wait_s=_read_float(env, "JOBSVC_CANCEL_WAIT_S", DEFAULT_CANCEL_WAIT_S),
            keepalive_s=_read_float(env, "JOBSVC_KEEPALIVE_S", DEFAULT_KEEPALIVE_S),
            stall_s=_read_float(env, "JOBSVC_STALL_S", DEFAULT_STALL_S),
            shutdown_s=_read_float(env, "JOBSVC_SHUTDOWN_S", DEFAULT_SHUTDOWN_S),
            reconcile_s=_read_float(env, "JOBSVC_RECONCILE_S", DEFAULT_RECONCILE_S),
            offers_ttl_s=_read_float(env, "JOBSVC_OFFERS_TTL_S", DEFAULT_OFFERS_TTL_S),
            shell_allowlist=parse_allowlist(env.get("JOBSVC_SHELL_ALLOWLIST", "")),
            recurring=_read_recurring(env),
            secrets_dir=Path(env["JOBSVC_SECRETS_DIR"]) if env.get("JOBSVC_SECRETS_DIR") else None,
            **_read_webhooks(env),
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def auth_required(self) -> bool:
        return bool(self.api_tokens or self.read_tokens)
