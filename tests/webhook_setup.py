"""What the webhook tests share: a subscription's configuration, a deliverer
process, and reading deliveries back."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jobsvc.service import Service
from jobsvc.settings import Settings
from tests.helpers import ROOT, wait_until

SECRET = "whsec_" + base64.b64encode(b"jobsvc-webhook-test-key-32-bytes").decode()


def hooks_env(url: str, events: list[str] | None = None, **extra: Any) -> dict[str, str]:
    """JOBSVC_WEBHOOKS with one subscription to ``url``, quick retries."""
    entry: dict[str, Any] = {"url": url, "secret": SECRET, "events": events or ["task.completed"]}
    entry.update(extra)
    return {"JOBSVC_WEBHOOKS": json.dumps([entry]), "JOBSVC_WEBHOOK_BACKOFF_S": "0.05"}


def service(env: dict[str, str]) -> Service:
    return Service(env["JOBSVC_REDIS_URL"], Settings.from_env(env))


@contextmanager
def deliverer(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A real `jobsvc deliverer` process; killed (its group) when the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobsvc", "deliverer"],
        cwd=ROOT,
        env={**os.environ, **env},
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def deliveries(svc: Service, status: str | None = None) -> list[dict[str, Any]]:
    return list(svc.deliveries(status=status))


def wait_delivery(svc: Service, status: str, timeout: float = 30.0) -> dict[str, Any]:
    """The only delivery, once it has ``status``."""

    def found() -> dict[str, Any] | None:
        ds = deliveries(svc)
        return ds[0] if len(ds) == 1 and ds[0]["status"] == status else None

    return wait_until(found, timeout, f"the delivery to be {status}")
