"""bench.deps runs to its summary at a tiny size, as a real process.

A smoke run: it says at once when an entry point the benchmark uses moves.
The target (p99 <= 100 ms) is for the full run, recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_bench_deps_reports_the_release_delay():
    out = subprocess.run(
        [sys.executable, "-m", "bench.deps", "--pairs", "5", "--worker-class", "simple"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "pairs: 5" in out.stdout, out.stdout + out.stderr
    assert "p99 ms:" in out.stdout and "release delay p99" in out.stdout
