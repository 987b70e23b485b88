"""Benchmarks of jobsvc against raw RQ on one Redis: see bench/README.md."""
