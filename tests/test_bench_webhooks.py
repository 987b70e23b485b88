"""bench.webhooks runs to its summary at a tiny size, as a real process.

A smoke run: it says at once when an entry point the benchmark uses moves.
The full run's figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_bench_webhooks_reports_throughput_and_cost():
    out = subprocess.run(
        [sys.executable, "-m", "bench.webhooks", "--tasks", "20", "--deliveries", "30"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "added commands/task:" in out.stdout
    assert "deliveries/s (2 deliverers):" in out.stdout
