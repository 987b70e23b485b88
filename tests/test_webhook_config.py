"""Webhook configuration: checked at start, one line naming the entry and field."""

from __future__ import annotations

import json

import pytest

from jobsvc.errors import ConfigError
from jobsvc.scripts import lua_hooks
from jobsvc.settings import Settings
from jobsvc.webhooks.config import glob_to_lua, parse_webhooks, shown, subscription_id
from jobsvc.webhooks.deliverer import BACKOFF_MAX_S, JITTER, retry_delay_s
from tests.helpers import jobsvc
from tests.webhook_setup import SECRET

GOOD = {"url": "https://hooks.example/x", "secret": SECRET, "events": ["task.failed"]}


def parse(*entries: object) -> object:
    return parse_webhooks({"JOBSVC_WEBHOOKS": json.dumps(list(entries))})


@pytest.mark.parametrize(
    "change, field",
    [
        ({"url": "ftp://hooks.example/x"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "https:///nohost"}, "url"),
        ({"url": "https://h.example:99999/"}, "url"),
        ({"url": "https://h.example/a b"}, "url"),
        ({"secret": "nope"}, "secret"),
        ({"secret": "whsec_!!!notbase64"}, "secret"),
        ({"secret": "whsec_c2hvcnQ="}, "secret"),  # 5 bytes
        ({"events": ["task.done"]}, "events"),
        ({"events": []}, "events"),
        ({"deployments": ["prod/*"]}, "deployments"),
        ({"deployments": "prod-*"}, "deployments"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_bad_entry_names_itself_and_its_field(change, field):
    with pytest.raises(ConfigError) as caught:
        parse(GOOD, {**GOOD, "url": "https://other.example/", **change})
    assert caught.value.message.startswith("JOBSVC_WEBHOOKS entry 2: field ")
    assert repr(field) in caught.value.message and "\n" not in caught.value.message


def test_the_file_and_the_variable_add_up(tmp_path):
    path = tmp_path / "hooks.json"
    path.write_text(json.dumps([{**GOOD, "url": "https://b.example/"}]))
    subs = parse_webhooks(
        {"JOBSVC_WEBHOOKS": json.dumps([GOOD]), "JOBSVC_WEBHOOKS_FILE": str(path)}
    )
    assert [s.url for s in subs] == ["https://hooks.example/x", "https://b.example/"]
    assert subs[0].id == subscription_id("https://hooks.example/x") == subs[0].id[:12]
    assert subs[0].deployments == ("*",)
    with pytest.raises(ConfigError, match="subscribed twice"):
        parse(GOOD, GOOD)


def test_globs_become_anchored_lua_patterns():
    assert glob_to_lua("prod-*") == "^prod%-.*$"
    assert glob_to_lua("eu?.x") == "^eu.%.x$"


def test_no_secret_in_any_script_and_no_password_either():
    env = {"JOBSVC_WEBHOOKS": json.dumps([{**GOOD, "url": "https://u:pw-123@h.example/x"}])}
    text = lua_hooks(Settings.from_env(env).webhooks)
    assert SECRET[6:] not in text and "pw\\045123" not in text and "pw-123" not in text
    assert shown("https://u:pw-123@h.example:8443/x?q=1") == "https://u:***@h.example:8443/x?q=1"


def test_retry_delays_double_with_jitter_and_a_cap():
    for tries, base in [(1, 5.0), (2, 10.0), (4, 40.0)]:
        assert base <= retry_delay_s(5.0, tries) <= base * (1 + JITTER)
    assert retry_delay_s(5.0, 60) <= BACKOFF_MAX_S * (1 + JITTER)


def test_a_process_with_a_bad_config_stops_with_one_line(env):
    bad = json.dumps([{**GOOD, "secret": "whsec_short"}])
    out = jobsvc({**env, "JOBSVC_WEBHOOKS": bad}, "deliverer", timeout=30)
    assert out.returncode != 0
    (line,) = out.stderr.strip().splitlines()
    assert "JOBSVC_WEBHOOKS entry 1: field 'secret'" in line


def test_up_starts_a_deliverer_only_with_subscriptions_and_stops_it_before_the_scheduler():
    from jobsvc.processes.up import _children

    plain = [c.name for c in _children(Settings(), "127.0.0.1", 8000, 2)]
    assert "deliverer" not in plain
    hooked = Settings.from_env({"JOBSVC_WEBHOOKS": json.dumps([GOOD])})
    names = [c.name for c in _children(hooked, "127.0.0.1", 8000, 2)]
    assert names == ["web", "workers", "long worker", "deliverer", "scheduler"]
