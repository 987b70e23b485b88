"""Procfile entry: RQ workers for a pool (same as `jobsvc worker ...`).

python worker.py --pool standard --count 2 [--burst] [--max-tasks N]
"""

import sys

from jobsvc.cli import cli

if __name__ == "__main__":
    cli(["worker", *sys.argv[1:]], prog_name="worker.py")
