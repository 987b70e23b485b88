"""`jobsvc list`, `submit --metadata/--key-fields`, and the Python API's list and delete
(the CLI as a real process against a real Redis)."""

from __future__ import annotations

import json

import pytest

from jobsvc.errors import Conflict, NotFound
from tests.helpers import jobsvc, wait_ended


def test_list_filters_and_pages_newest_first(env, svc):
    ids = [svc.submit(f"lane-{i % 3}", "noop").id for i in range(7)]
    out = jobsvc(env, "list", "--deployment", "lane-0", "--json")
    assert out.returncode == 0, out.stderr
    assert [t["id"] for t in json.loads(out.stdout)] == [ids[6], ids[3], ids[0]]
    two = jobsvc(env, "list", "--limit", "2")
    assert [line.split()[0] for line in two.stdout.splitlines()] == [ids[6], ids[5]]
    by_type = jobsvc(env, "list", "--type", "echo", "--json")
    assert json.loads(by_type.stdout) == []
    bad = jobsvc(env, "list", "--status", "nope")
    assert bad.returncode == 2 and "--status" in bad.stderr


def test_python_list_reads_every_page(svc):
    ids = [svc.submit("prod-eu", "noop").id for _ in range(120)]  # over two pages of 50
    assert [t.id for t in svc.list(deployment="prod-eu")] == ids[::-1]
    assert [t.id for t in svc.list(deployment="prod-eu", limit=55)] == ids[::-1][:55]
    assert list(svc.list(status="failed")) == []


def test_submit_takes_metadata_and_key_fields(env, svc):
    out = jobsvc(
        env,
        "submit",
        "prod-eu",
        "echo",
        "--payload",
        '{"lines": ["a"], "ref": "v1"}',
        "--metadata",
        '{"by": "ci"}',
        "--key-fields",
        '{"ref": "v1"}',
        "--json",
    )
    assert out.returncode == 0, out.stderr
    task = json.loads(out.stdout)
    assert task["metadata"] == {"by": "ci"}
    again = jobsvc(
        env,
        "submit",
        "prod-eu",
        "echo",
        "--payload",
        '{"lines": ["b"], "ref": "v1"}',
        "--key-fields",
        '{"ref": "v1"}',
        "--json",
    )
    # The same key fields, another payload: the task already queued comes back.
    assert json.loads(again.stdout)["id"] == task["id"], again.stdout
    bad = jobsvc(env, "submit", "prod-eu", "noop", "--metadata", "[1]")
    assert bad.returncode == 1 and "--metadata" in bad.stderr, bad.stderr
    notjson = jobsvc(env, "submit", "prod-eu", "noop", "--key-fields", "{")
    assert notjson.returncode == 2 and "--key-fields" in notjson.stderr


def test_python_delete_takes_ended_tasks_only(svc, make_worker):
    waiting = svc.submit("prod-eu", "noop")
    with pytest.raises(Conflict):
        svc.delete(waiting.id)
    make_worker()
    wait_ended(svc, waiting.id)
    svc.delete(waiting.id)
    with pytest.raises(NotFound):
        svc.get(waiting.id)
