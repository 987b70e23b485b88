"""What-if for ``bench/viewers.py --whatif``: the hub's pause after a fruitful read.

A gunicorn config: jobsvc's own settings plus a ``post_fork`` hook that
changes the web worker from outside (nothing under ``jobsvc/`` changes).

The first what-if of this file, the hub rendering each round once and
writing frames straight to the viewers' sockets, landed in jobsvc itself
(``jobsvc/live/hub.py``, ``jobsvc/live/sink.py``; commit a9d8566).  What is left
to try is its one tuning knob: after an ``XREAD`` that returned entries the
hub waits ``hub.COALESCE_S`` (10 ms) so that the next read carries the
lines of many streams.  ``JOBSVC_WHATIF_COALESCE_MS`` sets that pause
(default 0: what the pause buys, against jobsvc as is).

The hook names only ``jobsvc.live.hub.COALESCE_S`` and fails the worker's boot
with a one-line reason if that name is gone, rather than measuring jobsvc
unchanged; ``tests/test_bench_whatif.py`` serves through it.
"""

from __future__ import annotations

import os
from typing import Any

from jobsvc.processes.gunicorn_conf import *  # noqa: F403  (the same server, plus the hook below)

# The hub's pause after a read that returned entries, in ms.
COALESCE_MS = float(os.environ.get("JOBSVC_WHATIF_COALESCE_MS", "0"))


def install() -> float:
    """Sets the hub's pause in this process; returns it in seconds."""
    from jobsvc.live import hub

    if not isinstance(getattr(hub, "COALESCE_S", None), float):
        raise RuntimeError(
            "bench.viewer_whatif: jobsvc.live.hub.COALESCE_S is gone; "
            "update the what-if to what the hub reads now"
        )
    hub.COALESCE_S = COALESCE_MS / 1000
    return hub.COALESCE_S


def post_fork(server: Any, worker: Any) -> None:  # noqa: ARG001  (gunicorn's hook signature)
    server.log.info("bench.viewer_whatif: jobsvc.live.hub.COALESCE_S = %s", install())
