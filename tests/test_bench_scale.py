"""bench.scale runs to its summary at a tiny size.

The benchmark reaches into jobsvc through a few entry points (Service,
reconcile_all, the web app, ``jobsvc worker``) that are moving: this smoke
run says at once when one of them breaks it.  It checks that every phase ran
and that the report has each target's row, not the targets themselves:
those are for the full run (1,000,000 tasks), recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bench.scale import STEADY_PASSES
from tests.conftest import ROOT

TINY = [
    *("--tasks", "2000", "--lanes", "200", "--runs", "1", "--drain", "200", "--samples", "10"),
    *("--reconcile-every", "0.5"),
]
JUDGED_ROWS = (
    "submit rate at 2,000 queued",
    "Redis memory per queued task",
    "reconcile pass, Redis ms",
    "GET /api/v1/tasks deep/first page p50",
    "GET /api/v1/deployments deep/first page p50",
)


@pytest.fixture(scope="module")
def tiny_run() -> str:
    """The stdout of one tiny run, shared by the tests below (it takes ~30 s)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", *TINY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_scale_benchmark_runs_every_phase_to_its_summary(tiny_run):
    summary = tiny_run[tiny_run.index("Summary at 2,000 queued over 200 lanes") :]
    for row in JUDGED_ROWS:
        assert re.search(rf"^{re.escape(row)}.*(PASS|FAIL)$", summary, re.M), row
    assert "drain through 2 workers at depth / empty" in summary
    assert "load average at end:" in tiny_run


def test_scale_benchmark_reconcile_pass_with_nothing_late_repairs_nothing(tiny_run):
    passes = re.findall(r"^  reconcile, orphan grace .*repairs: (.*)$", tiny_run, re.M)
    # The first pass, then the steady passes at the scheduler's cadence.
    assert passes == ["none"] * (1 + STEADY_PASSES)
