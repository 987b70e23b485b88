"""Multi-step task types for the benchmarks and the chaos run, loaded by workers
through ``JOBSVC_TASK_MODULES=bench.step_tasks``.

``steps_n`` runs ``payload["steps"]`` steps that do nothing (bench/core.py's
cost of steps).  ``chaos_steps`` runs three steps that sleep; each run of a
step's function appends ``<step> <attempt> <run id>`` to a file of its task
in ``payload["runs"]`` and returns its run id, so the chaos checker can tell
the run that completed a step from any run after it (bench/invariants.py,
invariant 6).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from jobsvc import task


def _nothing() -> None:
    return None


@task("steps_n", retries=0)
def steps_n(ctx: Any, payload: dict) -> None:
    for i in range(int(payload.get("steps", 1))):
        ctx.step(f"s{i}", _nothing)


def _chaos_step(runs: str, name: str, attempt: int, seconds: float) -> str:
    run_id = uuid.uuid4().hex[:12]
    with open(runs, "a") as out:
        out.write(f"{name} {attempt} {run_id}\n")
    time.sleep(seconds)
    return run_id


@task("chaos_steps", retries=5)
def chaos_steps(ctx: Any, payload: dict) -> dict:
    runs = os.path.join(payload["runs"], ctx.task_id)
    seconds = float(payload.get("seconds", 0.05)) / 3
    done = {}
    for name in ("build", "migrate", "rollout"):
        done[name] = ctx.step(name, _chaos_step, runs, name, ctx.attempt, seconds)
    return done
