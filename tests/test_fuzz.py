"""Fuzzing the HTTP API against the contract, over a real server and a real Redis.

Hypothesis builds requests: submit bodies (valid ones, valid ones with one
field mutated, raw garbage), deployment names and task ids in paths, query
strings and headers.  Each request carries what the contract says about it:
it must be accepted, it must be refused (maybe with a given status and
code, e.g. 403 ``cross_origin``), or either is fine, and the answer must
agree.  Every answer is also held to three properties, whatever the request:

1. no response is a 5xx, nor a stream that breaks off after its headers;
2. every 4xx is the contract's JSON error ``{"error": {"code", "message"}}``;
3. a refused request, and any read, changes nothing: the ``/stats`` counts,
   the newest ids of ``/tasks`` and a digest of every Redis key are the same
   before and after it (a read is compared by the digest alone).  An
   accepted submission must change them, by exactly the task it was sent,
   which shows the comparison can fail.

Each example starts from the same small state (``seed_state``), so an
example that fails fails again alone and Hypothesis can shrink it.  The seed
is fixed for CI and printed; ``JOBSVC_FUZZ_SEED`` picks another.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from jobsvc.service import Service
from tests.fuzz_bodies import submit_probes
from tests.fuzz_harness import Harness, Probe
from tests.fuzz_requests import (
    FULL_TOKEN,
    READ_TOKEN,
    header_probes,
    listing_probes,
    stream_probes,
    task_probes,
    token_probes,
)

SEED = int(os.environ.get("JOBSVC_FUZZ_SEED", "20240607"))
# Bounded for CI: the whole file runs in about a minute on two busy cores.
FUZZ = settings(
    max_examples=int(os.environ.get("JOBSVC_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    # Abandoned live streams notice a closed socket at their next keep-alive.
    return {**env, "JOBSVC_KEEPALIVE_S": "0.05"}


@pytest.fixture
def harness(web_server: str, svc: Service, redis_url: str) -> Harness:
    print(f"fuzz seed: {SEED} (JOBSVC_FUZZ_SEED)")
    return Harness(web_server, svc, redis_url)


# -- the tests -----------------------------------------------------------------------------


@seed(SEED)
@FUZZ
@given(probe=submit_probes())
def test_fuzzed_submissions_never_fail_the_server_nor_half_apply(
    harness: Harness, probe: Probe
) -> None:
    harness.run(probe)


@seed(SEED)
@FUZZ
@given(probe=st.one_of(task_probes(), stream_probes()))
def test_fuzzed_task_paths_and_streams_never_fail_the_server(
    harness: Harness, probe: Probe
) -> None:
    harness.run(probe)


@seed(SEED)
@FUZZ
@given(probe=listing_probes)
def test_fuzzed_listings_and_lanes_never_fail_the_server(harness: Harness, probe: Probe) -> None:
    harness.run(probe)


@seed(SEED)
@FUZZ
@given(probe=header_probes())
def test_fuzzed_headers_without_tokens_keep_web_pages_out(harness: Harness, probe: Probe) -> None:
    harness.run(probe)


class TestWithTokens:
    """With tokens configured, every /api and /ws call needs one; Host and Origin are free."""

    @pytest.fixture
    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {
            **env,
            "JOBSVC_API_TOKENS": f"ci:{FULL_TOKEN}",
            "JOBSVC_READ_TOKENS": f"viewer:{READ_TOKEN}",
        }

    @pytest.fixture
    def harness(self, web_server: str, svc: Service, redis_url: str) -> Harness:
        print(f"fuzz seed: {SEED} (JOBSVC_FUZZ_SEED)")
        return Harness(web_server, svc, redis_url, token=FULL_TOKEN)

    @seed(SEED)
    @FUZZ
    @given(probe=token_probes())
    def test_fuzzed_tokens_never_let_a_request_through_unchecked(
        self, harness: Harness, probe: Probe
    ) -> None:
        harness.run(probe)
