"""Fallback worker entry point for when ``python -m jobsvc`` cannot be imported.

``jobsvc worker --count 1`` calls ``jobsvc.processes.worker.run_worker`` in its own
process, so this runs exactly the same worker without the click layer.

    python -m bench.jobsvc_worker POOL [simple|fork] [--burst]
"""

from __future__ import annotations

import sys

from jobsvc.processes.worker import run_worker


def main() -> None:
    pool, *args = sys.argv[1:]
    worker_class = "fork" if "fork" in args else "simple"
    run_worker(pool, burst="--burst" in args, worker_class=worker_class)


if __name__ == "__main__":
    main()
