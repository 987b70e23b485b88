"""`--json` on every command that reads or reports (the CLI as a real process
against a real Redis and a real worker), and the audit that keeps it so."""

from __future__ import annotations

import json

from jobsvc.cli import cli
from tests.helpers import jobsvc, wait_ended

# Commands that run processes and print no data: the only ones without --json.
PROCESS_COMMANDS = {"up", "down", "web", "worker", "scheduler", "deliverer"}


def test_every_command_but_the_process_ones_has_json():
    missing = [
        name
        for name, command in cli.commands.items()
        if name not in PROCESS_COMMANDS
        and not any(getattr(p, "name", None) == "as_json" for p in command.params)
    ]
    assert missing == []


def run_json(env: dict[str, str], *args: str, code: int = 0):
    out = jobsvc(env, *args, "--json")
    assert out.returncode == code, out.stderr
    return json.loads(out.stdout)


def test_log_tail_and_show_as_json(env, svc, make_worker):
    make_worker()
    task = svc.submit("prod-eu", "echo", {"lines": ["one", "two"]})
    wait_ended(svc, task.id)
    assert run_json(env, "log", task.id) == {"id": task.id, "log": "one\ntwo\n"}
    tail = jobsvc(env, "tail", task.id, "--json")
    assert tail.returncode == 0, tail.stderr
    events = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [e["data"].get("line") for e in events if e["type"] == "log"] == ["one", "two"]
    assert events[-1]["type"] == "status" and events[-1]["data"]["status"] == "completed"
    assert all(set(e) == {"id", "type", "at", "data"} for e in events)
    assert run_json(env, "show", task.id)["status"] == "completed"


def test_a_failed_task_tails_as_json_and_exits_1(env, svc, make_worker):
    make_worker()
    task = svc.submit("prod-eu", "fail")
    wait_ended(svc, task.id)
    tail = jobsvc(env, "tail", task.id, "--json")
    assert tail.returncode == 1
    assert json.loads(tail.stdout.splitlines()[-1])["data"]["status"] == "failed"


def test_upkeep_commands_report_as_json(env, svc, make_worker):
    make_worker()
    task = svc.submit("prod-eu", "noop")
    wait_ended(svc, task.id)
    report = run_json(env, "reconcile")
    assert set(report) == {"republished", "reaped", "stalled", "promoted", "failed"}
    check = run_json(env, "check", "--warn-only")
    assert check["ok"] is (check["warnings"] == []) and "redisUrl" in check
    dry = run_json(env, "cleanup", "--days", "0", "--dry-run")
    assert dry == {"flagged": 1, "deleted": 1, "dryRun": True, "wouldDelete": [task.id]}
    assert svc.get(task.id).status == "completed"  # a dry run changes nothing
    done = run_json(env, "cleanup", "--days", "0")
    assert done == {"flagged": 1, "deleted": 1, "dryRun": False}
    assert run_json(env, "drain") == {"drained": True, "stillRunning": []}
    assert set(run_json(env, "drain", "--resume")) == set(report)


def test_check_as_json_still_exits_1_on_a_warning(env, svc):
    out = jobsvc(env, "check", "--json")
    report = json.loads(out.stdout)
    if report["warnings"]:  # the test Redis persists nothing: a warning
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    else:
        assert out.returncode == 0
