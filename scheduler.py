"""Procfile entry: the scheduler with jobsvc's periodic reconcilers (same as `jobsvc scheduler`)."""

import sys

from jobsvc.cli import cli

if __name__ == "__main__":
    cli(["scheduler", *sys.argv[1:]], prog_name="scheduler.py")
