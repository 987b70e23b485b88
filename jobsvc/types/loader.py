"""The task types a process has: the built-ins, and the modules ``JOBSVC_TASK_MODULES`` names.

Workers and the scheduler load them at start, so a module that does not
import stops the start with one line instead of failing tasks later; the
web app too (for its payload checks and preflight hooks); the Python API and
the CLI on their first submit only.

Module names resolve from the current directory first, as ``python -m``
resolves them: the ``jobsvc`` console script otherwise has only its own
directory on the import path, and `jobsvc up`'s children (``python -m
jobsvc``) would find a module the CLI in the same directory could not.
"""

from __future__ import annotations

import importlib
import os
import sys

from ..errors import ConfigError
from ..settings import Settings
from . import builtins


def load(settings: Settings) -> None:
    """Configures the built-ins (noop, sleep, echo, fail, shell) and imports the
    configured modules, which register their types."""
    builtins.configure(settings)
    if settings.task_modules:
        _import_from_cwd()
    for module in settings.task_modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"JOBSVC_TASK_MODULES: cannot import {module!r}: {exc}") from None


def _import_from_cwd() -> None:
    """Puts the current directory first on the import path, once."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
