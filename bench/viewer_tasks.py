"""Task types for ``bench/viewers.py``: output at a fixed rate that carries its send time.

Loaded by the workers and the web process through
``JOBSVC_TASK_MODULES=bench.viewer_tasks`` (cwd and PYTHONPATH = the repo root).
"""

from __future__ import annotations

import time
from typing import Any

from jobsvc import task

# Lines per second a ticker writes unless its payload says otherwise.
RATE = 20.0
# Seconds a ticker runs unless its payload says otherwise.
SECONDS = 60.0


@task("ticker", timeout=3600, retries=0)
def ticker(ctx: Any, payload: dict) -> dict:
    """Writes ``"<seq> <time.time()>"`` lines on a fixed schedule.

    The schedule is absolute (line ``n`` is due at ``start + n / rate``), so a
    slow ``ctx.log`` does not stretch the run; ``ctx.sleep`` keeps it cancellable.
    """
    rate = float(payload.get("rate", RATE))
    count = int(float(payload.get("seconds", SECONDS)) * rate)
    start = time.monotonic()
    for seq in range(count):
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            ctx.sleep(delay)
        ctx.log(f"{seq} {time.time():.6f}")
    return {"lines": count}
