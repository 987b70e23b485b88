"""Runs a module as ``python -m MODULE ARGS...`` would, counting its Redis round trips.

    python -m bench.launch COUNT_FILE MODULE [ARGS...]

The workers of both systems start through this wrapper, so they run their
real entry points (``jobsvc`` / ``rq.cli``) and the benchmark can still read
how many requests each process sent.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from bench import rtt


def main() -> None:
    count_file, module, *args = sys.argv[1:]
    rtt.install()
    rtt.report_at_exit(Path(count_file))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
