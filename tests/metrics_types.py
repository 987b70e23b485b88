"""A task type whose name Prometheus must escape in a label value (test_metrics)."""

from __future__ import annotations

from jobsvc import task

# A quote, a backslash and a newline: the three characters a label value escapes.
ODD_TYPE = 'odd "type"\\ with\na newline'


@task(ODD_TYPE)
def odd(ctx, payload):
    return None
