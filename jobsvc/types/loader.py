"""The task types a process has: the built-ins, and the modules ``JOBSVC_TASK_MODULES`` names.

Every process that validates or runs tasks (web, worker, scheduler, the
Python API) loads them at start, so a module that does not import stops the
start with one line instead of failing tasks later.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from ..settings import Settings
from . import builtins


def load(settings: Settings) -> None:
    """Configures the built-ins (noop, sleep, echo, fail, shell) and imports the
    configured modules, which register their types."""
    builtins.configure(settings)
    for module in settings.task_modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"JOBSVC_TASK_MODULES: cannot import {module!r}: {exc}") from None
