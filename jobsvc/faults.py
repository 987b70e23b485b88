"""Fault points for deterministic crash tests.

``JOBSVC_FAULT=after_claim`` (comma-separated names allowed) makes the
process exit on the spot when it reaches that step, as a ``kill -9`` would
at exactly that moment.  Points: ``after_promote`` (a Lua step promoted a
task, its RQ enqueue not yet done), ``after_pop`` (a worker popped a
dispatch from RQ and marked it, its claim not yet done), ``after_claim`` (an attempt claimed its
task, the handler not yet started), ``before_finish`` (the handler returned,
the attempt not yet finished).  Unset in production: each check is one
dictionary lookup.
"""

from __future__ import annotations

import os

# Exit status of a process stopped at a fault point (128 + SIGKILL).
FAULT_EXIT = 137


def point(name: str) -> None:
    faults = os.environ.get("JOBSVC_FAULT")
    if faults and name in faults.split(","):
        os._exit(FAULT_EXIT)
