"""Which task types a submit may name: those the workers offer.

A worker publishes the types of its pool (``TypeSpec``: a type's name and
defaults, never its code) when it starts and every fifth of
``JOBSVC_OFFERS_TTL_S`` after (``processes/offering.py``); an offer not
published again within that TTL (10 minutes by default) is no longer
counted.  So the web, the CLI and the Python API need not import task
modules: they learn a type's pool, timeout and retries from the offers.

``accepted`` is the rule, and the only place it is written.  A process that
imports the module of a type too (``JOBSVC_TASK_MODULES``) also runs that
type's payload check and preflight hooks on submit.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import UnknownType
from ..model import iso
from ..settings import DEFAULT_MAX_RETRIES, DEFAULT_POOL, DEFAULT_TIMEOUT_S
from . import builtins, registry

# How long a process reuses the offers it read before reading them again, in
# seconds; a type not among them (or a built-in's) is looked up again at once.
CACHE_S = 1.0


@dataclass(frozen=True)
class TypeSpec:
    """A task type as a submitter needs it: its defaults, and (only where its
    module is imported) its payload check and preflight hooks."""

    name: str
    pool: str = DEFAULT_POOL
    timeout: int = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_MAX_RETRIES
    cooldown: int = 0
    stall_timeout: int | None = None
    validate: registry.Validator | None = None
    preflight: tuple[registry.Preflight, ...] = ()
    # When a worker last published it (µs of Redis' clock); None: never published.
    seen_at: int | None = None

    @classmethod
    def of(cls, task_type: registry.TaskType) -> TypeSpec:
        return cls(
            task_type.name,
            task_type.pool,
            task_type.timeout,
            task_type.retries,
            task_type.cooldown,
            task_type.stall_timeout,
            task_type.validate,
            task_type.preflight,
        )

    def published(self) -> str:
        """The JSON a worker publishes: the defaults a submit takes, camelCase as
        on the wire."""
        return json.dumps(
            {
                "pool": self.pool,
                "timeoutS": self.timeout,
                "maxRetries": self.retries,
                "cooldownS": self.cooldown,
                "stallS": self.stall_timeout,
            }
        )

    @classmethod
    def from_published(cls, name: str, raw: str, seen_at: int) -> TypeSpec:
        """The other side of ``published``; a field a worker did not send keeps
        the default, as it would on that worker."""
        data = json.loads(raw)
        return cls(
            name,
            str(data.get("pool", DEFAULT_POOL)),
            int(data.get("timeoutS", DEFAULT_TIMEOUT_S)),
            int(data.get("maxRetries", DEFAULT_MAX_RETRIES)),
            int(data.get("cooldownS", 0)),
            None if data.get("stallS") is None else int(data["stallS"]),
            seen_at=seen_at,
        )

    def with_checks(self, local: registry.TaskType | None) -> TypeSpec:
        """The offer, with this process's payload check and preflight hooks when it
        imports the type's module too."""
        if local is None:
            return self
        return replace(self, validate=local.validate, preflight=local.preflight)


def is_builtin(name: str) -> bool:
    """A type jobsvc ships: every worker has it, whatever its modules."""
    task_type = registry.get(name)
    return task_type is not None and task_type.handler.__module__ == builtins.__name__


def accepted(name: str, offered: Mapping[str, TypeSpec]) -> TypeSpec:
    """The type a submit of ``name`` gets, or UnknownType (422) listing the offers.

    1. a type a worker offers (published within the TTL) is accepted, with
       the defaults it published;
    2. a built-in type is always accepted: every worker runs the built-ins;
    3. while no worker offers anything (a fresh install, a submit before the
       workers start, every worker gone for longer than the TTL), a type this
       process registers itself is accepted: the workers to come are assumed
       to import the same modules;
    4. anything else is refused: no worker would run it.
    """
    local = registry.get(name)
    spec = offered.get(name)
    if spec is not None:
        return spec.with_checks(local)
    if local is not None and (is_builtin(name) or not offered):
        return TypeSpec.of(local)
    raise UnknownType(
        f"unknown task type {name!r}: no worker offers it "
        f"(offered: {', '.join(offered_names(offered))})",
        field="type",
    )


def offered_names(offered: Mapping[str, TypeSpec]) -> list[str]:
    """What a submit may name whatever the workers: the offers and the built-ins."""
    return sorted(set(offered) | {t.name for t in registry.types() if is_builtin(t.name)})


def local_type(name: str) -> TypeSpec:
    """The rule for a process that runs tasks itself (a worker firing a recurring
    task, the scheduler checking one): its own registry is what it offers."""
    return accepted(name, {t.name: TypeSpec.of(t) for t in registry.types()})


class OfferCache:
    """The offers one process read, reused for ``CACHE_S``: a submit costs no
    extra round trip while its type is among them.  A type that is not (an
    unknown one, a built-in, a worker that just started) is looked up again."""

    def __init__(self, read: Callable[[], dict[str, TypeSpec]]):
        self._read = read
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, TypeSpec]] = (float("-inf"), {})

    def offered(self, fresh: bool = False) -> dict[str, TypeSpec]:
        read_at, specs = self._cached
        if fresh or time.monotonic() - read_at > CACHE_S:
            with self._lock:
                specs = self._read()
                self._cached = (time.monotonic(), specs)
        return specs

    def find(self, name: str) -> TypeSpec:
        """``accepted`` against the offers, read again when ``name`` is not among them
        (a built-in is accepted either way: no need)."""
        offered = self.offered()
        if name not in offered and not is_builtin(name):
            offered = self.offered(fresh=True)
        return accepted(name, offered)

    def listing(self) -> list[dict[str, Any]]:
        """The offered types and the built-ins, for `jobsvc types`."""
        offered = self.offered(fresh=True)
        specs = [offered.get(n) or TypeSpec.of(_local(n)) for n in offered_names(offered)]
        return [listed(spec, is_builtin(spec.name)) for spec in specs]


def _local(name: str) -> registry.TaskType:
    task_type = registry.get(name)
    assert task_type is not None  # offered_names lists only offers and registered built-ins
    return task_type


def listed(spec: TypeSpec, builtin: bool) -> dict[str, Any]:
    """One row of `jobsvc types --json`."""
    return {
        "name": spec.name,
        "pool": spec.pool,
        "timeoutS": spec.timeout,
        "maxRetries": spec.retries,
        "cooldownS": spec.cooldown,
        "stallS": spec.stall_timeout,
        "builtin": builtin,
        "lastSeen": iso(spec.seen_at),
    }
