"""Task types the tests register through JOBSVC_TASK_MODULES."""

from __future__ import annotations

import os
import time

from jobsvc import task


@task("hang", timeout=2)
def hang(ctx, payload):
    """Ignores stop requests' event; only the raised stop ends it."""
    while True:
        time.sleep(0.01)


@task("wait_file")
def wait_file(ctx, payload):
    """Runs until the file named in the payload exists (tests hold a task running)."""
    while not os.path.exists(payload["path"]):
        ctx.sleep(0.02)
    return {"released": True}


@task("count", retries=0)
def count(ctx, payload):
    ctx.progress(50, "half way")
    ctx.log(f"attempt {ctx.attempt}")
    return {"n": payload.get("n")}


def _needs_flag(payload):
    return None if payload.get("ok") else "payload.ok is not set"


@task("guarded", preflight=_needs_flag)
def guarded(ctx, payload):
    return "ran"
