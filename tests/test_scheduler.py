"""The scheduler: idempotent registration, double fires run once, recurring tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import pytest
import redis

from jobsvc import crons
from jobsvc.errors import ConfigError
from jobsvc.processes import scheduler
from jobsvc.settings import Settings
from tests.conftest import ROOT

RECURRING = json.dumps(
    [
        {
            "name": "hc-prod",
            "cron": "0 */6 * * *",
            "deployment": "prod-eu",
            "type": "echo",
            "payload": {"lines": ["ok"]},
        }
    ]
)


def run_scheduler_burst(env):
    return subprocess.run(
        [sys.executable, "scheduler.py", "--burst"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def scheduled(redis_url):
    raw = redis.Redis.from_url(redis_url)
    return sorted(j.decode() for j in raw.zrange("rq:scheduler:scheduled_jobs", 0, -1))


def test_registration_is_idempotent_and_json(env, redis_url):
    env = {**env, "JOBSVC_RECURRING": RECURRING}
    for _ in range(2):
        result = run_scheduler_burst(env)
        assert result.returncode == 0, result.stderr
    assert scheduled(redis_url) == [
        "jobsvc-cleanup",
        "jobsvc-reconcile",
        "jobsvc-recurring-hc-prod",
    ]
    raw = redis.Redis.from_url(redis_url)
    for job_id in scheduled(redis_url):
        data = raw.hget(f"rq:job:{job_id}", "data")
        assert json.loads(zlib.decompress(data))[0].startswith("jobsvc.crons.")


def test_recurring_task_removed_from_config_is_unscheduled(env, redis_url):
    run_scheduler_burst({**env, "JOBSVC_RECURRING": RECURRING})
    run_scheduler_burst(env)
    assert "jobsvc-recurring-hc-prod" not in scheduled(redis_url)


def test_double_fire_runs_once(svc, monkeypatch):
    monkeypatch.setattr(crons, "process_store", lambda: svc.store)
    assert "skipped" not in crons.reconcile_job(60)
    assert crons.reconcile_job(60) == {"skipped": "already ran in this period"}


def test_recurring_fire_goes_through_submit_and_dedupes(svc, monkeypatch):
    monkeypatch.setattr(crons, "process_store", lambda: svc.store)
    [definition] = json.loads(RECURRING)
    first = crons.submit_recurring(definition)
    second = crons.submit_recurring(definition)
    assert first["task"] == second["task"] and second["deduplicated"]
    assert svc.get(first["task"]).dedupe_key == "recurring:hc-prod"


@pytest.mark.parametrize(
    "bad,message",
    [
        ([{"name": "x", "cron": "nope", "deployment": "d", "type": "noop"}], "invalid cron"),
        ([{"name": "x", "cron": "* * * * *", "deployment": "d", "type": "nope"}], "unknown task"),
        ([{"name": "x y", "cron": "* * * * *", "deployment": "d", "type": "noop"}], "must match"),
    ],
)
def test_bad_recurring_config_is_refused_at_start(env, bad, message):
    with pytest.raises(ConfigError, match=message):
        scheduler.check_recurring(Settings.from_env({**env, "JOBSVC_RECURRING": json.dumps(bad)}))
