"""Pure logic: settings parsing, backoff, shell argv templates, ISO times."""

from __future__ import annotations

import re

import pytest

from jobsvc.connection import redacted
from jobsvc.errors import ConfigError, InvalidInput
from jobsvc.model import iso
from jobsvc.policy import MAX_BACKOFF_S, backoff_ms
from jobsvc.settings import DEFAULT_SHUTDOWN_S, Settings
from jobsvc.types.sandbox import build_argv, parse_allowlist


def test_tokens_accept_named_and_bare_entries():
    s = Settings.from_env({"JOBSVC_API_TOKENS": "ci:abc, def"})
    assert s.api_tokens == {"abc": "ci", "def": "token2"} and s.auth_required


def test_bad_numbers_in_settings_are_config_errors():
    with pytest.raises(ConfigError, match="JOBSVC_LEASE_S"):
        Settings.from_env({"JOBSVC_LEASE_S": "soon"})


def test_backoff_grows_and_stays_capped():
    assert 1000 <= backoff_ms(1.0, 0) <= 1000
    assert all(1000 <= backoff_ms(1.0, 3) <= 8000 for _ in range(100))
    assert backoff_ms(1.0, 60) <= MAX_BACKOFF_S * 1000


def test_shell_placeholders_fill_whole_arguments_only():
    allow = parse_allowlist('{"deploy": ["deploy.sh", "--ref", "{ref}"]}')
    assert build_argv(allow, {"command": "deploy", "args": {"ref": "v1; rm -rf /"}}) == [
        "deploy.sh",
        "--ref",
        "v1; rm -rf /",
    ]
    with pytest.raises(InvalidInput, match="args.ref"):
        build_argv(allow, {"command": "deploy"})
    with pytest.raises(InvalidInput, match="allowlist"):
        build_argv(allow, {"command": "rm"})


@pytest.mark.parametrize(
    "raw,message",
    [
        ('{"x": []}', "non-empty list"),
        ('{"x": ["{prog}", "a"]}', "argv[0]"),
        (
            '{"x": {"argv": ["echo", "{a}"], "args": {"b": "[a-z]+"}}}',
            "x.args.b: no such placeholder",
        ),
        ('{"x": {"argv": ["echo"], "env": {}}}', "expected a list, or an object"),
        ('{"x": {"argv": ["echo", "{a}"], "args": {"a": 1}}}', "must be a string"),
    ],
)
def test_shell_allowlist_mistakes_are_config_errors(raw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env({"JOBSVC_SHELL_ALLOWLIST": raw})


@pytest.mark.parametrize(
    "url,shown",
    [
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://admin:p@ss@db.example:6380/1", "rediss://admin:***@db.example:6380/1"),
        ("redis://bare-secret@host/0", "redis://***@host/0"),
        ("unix:///run/redis.sock?db=0&password=pw", "unix:///run/redis.sock?db=0&password=***"),
        (
            "redis+sentinel://:pw@s1:26379,s2:26379/mymaster",
            "redis+sentinel://:***@s1:26379,s2:26379/mymaster",
        ),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redis_urls_are_shown_without_their_password(url, shown):
    assert redacted(url) == shown


def test_iso_times_are_utc_with_z():
    assert iso(1_764_034_320_123_456) == "2025-11-25T01:32:00.123456Z"
    assert iso(None) is None


def test_lone_surrogates_are_invalid_input_not_a_crash():
    from jobsvc.errors import InvalidInput
    from jobsvc.validation import parse_submission

    with pytest.raises(InvalidInput) as exc:
        parse_submission("prod", {"type": "noop", "dedupeKey": "\ud800"})
    assert exc.value.field == "dedupeKey"


@pytest.mark.parametrize("shutdown_s", [DEFAULT_SHUTDOWN_S, 90.0])
def test_up_waits_out_the_workers_own_shutdown_allowance(shutdown_s):
    """Ctrl-C on `jobsvc up` must not kill a worker that is still within JOBSVC_SHUTDOWN_S."""
    from jobsvc.processes import up as local
    from jobsvc.processes import worker as workers

    assert local.stop_timeout_s(Settings(shutdown_s=shutdown_s)) > shutdown_s
    assert workers.ShutdownDeadline.shutdown_s == DEFAULT_SHUTDOWN_S
