"""Task types the tests register through JOBSVC_TASK_MODULES."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from urllib.parse import quote

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


@task("silent", stall_timeout=1)
def silent(ctx, payload):
    """Prints nothing and never ends on its own: only stall detection stops it."""
    ctx.sleep(3600)


@task("beating", stall_timeout=1)
def beating(ctx, payload):
    """Quiet but alive: heartbeats keep it from counting as stalled."""
    for _ in range(int(payload.get("beats", 10))):
        ctx.heartbeat()
        ctx.sleep(0.2)
    return "done"


@task("numbered", retries=1)
def numbered(ctx, payload):
    """Logs `attempt:i` lines until the file named in the payload exists."""
    i = 0
    while not os.path.exists(payload["path"]):
        ctx.log(f"{ctx.attempt}:{i}")
        i += 1
        time.sleep(0.05)
    return {"lines": i}


@task("long_line")
def long_line(ctx, payload):
    """One line of ``size`` bytes, then a short one: the first must be cut, the second kept."""
    ctx.log("y" * int(payload["size"]))
    ctx.log("after")


@task("chatty", retries=0)
def chatty(ctx, payload):
    """Says what the payload holds: a progress message, a step, log lines, then an error."""
    ctx.progress(50, payload.get("progress", ""))
    if payload.get("step"):
        ctx.step(payload["step"], lambda: None)
    ctx.log(*payload.get("lines", []))
    if payload.get("error"):
        raise RuntimeError(payload["error"])
    return None


@task("whoami")
def whoami(ctx, payload):
    """Names the thread that runs it: workers reuse one handler thread across attempts."""
    return {"thread": threading.current_thread().name}


def _record_run(payload, name, attempt):
    """One run of a step of ``stepped``: appends ``<name> <attempt>`` to the runs
    file (outside the task's own step records, so tests count real runs), fails
    its first ``fail[name]`` runs, makes its first ``slow[name]`` runs take 2 s,
    and holds while ``hold[name]`` does not exist."""
    with open(payload["runs"], "a") as runs:
        runs.write(f"{name} {attempt}\n")
    with open(payload["runs"]) as runs:
        count = sum(1 for line in runs if line.split()[0] == name)
    if count <= payload.get("fail", {}).get(name, 0):
        raise RuntimeError(f"{name} run {count} fails")
    if count <= payload.get("slow", {}).get(name, 0):
        time.sleep(2)
    hold = payload.get("hold", {}).get(name)
    while hold and not os.path.exists(hold):
        time.sleep(0.02)
    return {"step": name, "attempt": attempt, "run": count}


@task("stepped", retries=2)
def stepped(ctx, payload):
    """Runs the payload's ``steps`` in order (``steps_by_attempt`` may name others
    for an attempt), each retried in place ``retries`` times, each run given
    ``timeout`` seconds (``slow[name]``: its first runs take 2 s); after each one,
    ``ctx.state`` records the attempt that first got past it, saved at once."""
    names = payload.get("steps_by_attempt", {}).get(str(ctx.attempt), payload["steps"])
    results = []
    for name in names:
        policy = {
            "retries": payload.get("retries", 0),
            "backoff": 0.01,
            "timeout": payload.get("timeout"),
        }
        results.append(ctx.step(name, _record_run, payload, name, ctx.attempt, **policy))
        ctx.state.setdefault("seen", {}).setdefault(name, ctx.attempt)
        ctx.save_state()
    return {"results": results, "state": ctx.state}


def _use_token(token, fail):
    """A step that echoes the secret in its result, or fails naming it."""
    if fail:
        raise RuntimeError(f"step refused token {token}")
    return {"echo": f"step saw {token}", "hex": token.encode().hex()}


def _watch_cleared(ctx, path):
    """Writes ``cleared`` to ``path`` once the attempt's ``ctx.secrets`` is empty."""
    deadline = time.monotonic() + 20
    while ctx.secrets and time.monotonic() < deadline:
        time.sleep(0.02)
    with open(path, "w") as out:
        out.write("cleared" if not ctx.secrets else "still there")


@task("leaky", secrets=["TEST_TOKEN"], retries=0)
def leaky(ctx, payload):
    """Puts its secret, raw and encoded, everywhere an attempt writes: log lines,
    progress, a step's result (or error), ctx.state, its result (or error)."""
    token = ctx.secrets["TEST_TOKEN"]
    try:
        ctx.secrets["TEST_TOKEN"] = "changed"
    except TypeError:
        ctx.log("secrets are read-only")
    if payload.get("watch"):
        threading.Thread(target=_watch_cleared, args=(ctx, payload["watch"]), daemon=True).start()
    basic = base64.b64encode(f"ci:{token}".encode()).decode()
    ctx.log(
        f"raw {token}",
        "json " + json.dumps({"token": token}),
        "url https://x.example/?t=" + quote(token, safe=""),
        "b64 " + base64.b64encode(token.encode()).decode(),
        f"basic Authorization: Basic {basic}",
        "hex " + token.encode().hex(),
    )
    ctx.progress(40, f"progress {token}")
    ctx.state["seen"] = token
    ctx.step("use", _use_token, token, payload.get("fail", False))
    digest = hashlib.sha256(token.encode()).hexdigest()
    return {"token": token, "list": [token], token: "as a key", "sha256": digest}


@task("needs_secret", secrets=["ABSENT_TOKEN"], retries=3)
def needs_secret(ctx, payload):
    """Must never run without its secret: touches the payload's file if it does."""
    with open(payload["ran"], "w") as out:
        out.write("ran")


@task("drip", retries=0)
def drip(ctx, payload):
    """Logs a numbered line every ``every`` seconds until the file named in the payload
    exists: a steady stream of output, as a long deployment prints."""
    i = 0
    while not os.path.exists(payload["path"]):
        ctx.log(f"line {i}")
        i += 1
        ctx.sleep(float(payload.get("every", 0.2)))
    return {"lines": i}


@task("migrate", pool="long")
def migrate(ctx, payload):
    """A long task: runs on a worker of the long pool until the payload's file exists."""
    while not os.path.exists(payload["path"]):
        ctx.sleep(0.05)
    return {"migrated": True}


@task("progressing")
def progressing(ctx, payload):
    """Progress with messages of shrinking length, a log line between, then more progress."""
    ctx.progress(10, "fetching a long list of things")
    ctx.progress(40, "short")
    ctx.log("a line of output")
    ctx.progress(100, "done")


def maintenance_probe(path):
    """A job for the ``maintenance`` queue (not a dispatch): appends a line to ``path``."""
    with open(path, "a") as out:
        out.write("ran\n")
