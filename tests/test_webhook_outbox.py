"""The outbox: deliveries written by the transition scripts themselves; their
leases, fences, listing, retention, and nothing at all without subscriptions."""

from __future__ import annotations

import json

import requests

from jobsvc import keys
from jobsvc.processes.retention import cleanup_deliveries
from tests.helpers import wait_ended, wait_until
from tests.webhook_setup import deliveries, hooks_env, service


def hook_keys(svc) -> list[str]:
    return sorted(svc.store.client.scan_iter(match=f"{keys.PREFIX}hook*"))


def test_no_subscription_writes_no_webhook_key(env, svc, make_worker):
    make_worker()
    for task_type in ("noop", "fail"):
        wait_ended(svc, svc.submit("prod-eu", task_type).id)
    skipped = svc.submit("prod-eu", "noop", depends_on=[svc.submit("prod-eu", "fail").id])
    wait_ended(svc, skipped.id)
    assert hook_keys(svc) == []


def test_events_and_deployment_globs_filter(env, make_worker):
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.failed"], deployments=["prod-*"]))
    svc = service(env)
    make_worker()
    ids = {
        "prod completed": svc.submit("prod-eu", "noop").id,
        "prod failed": svc.submit("prod-us", "fail").id,
        "dev failed": svc.submit("dev", "fail").id,
        "prefix failed": svc.submit("preprod-eu", "fail").id,
    }
    for task_id in ids.values():
        wait_ended(svc, task_id)
    (only,) = deliveries(svc)
    assert (only["taskId"], only["event"]) == (ids["prod failed"], "task.failed")


def test_every_event_of_a_task_is_recorded_in_order(env, make_worker):
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.started", "task.completed"]))
    svc = service(env)
    make_worker()
    wait_ended(svc, svc.submit("prod-eu", "noop").id)
    assert [d["event"] for d in deliveries(svc)] == ["task.completed", "task.started"]


def test_the_delivery_is_written_in_the_claim_itself(env, make_worker):
    """A worker that dies right after its claim (fault point) still leaves the
    task.started delivery: it was written by claim.lua, not after it."""
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.started"]))
    svc = service(env)
    task = svc.submit("prod-eu", "noop")
    worker = make_worker(JOBSVC_FAULT="after_claim")
    assert worker.wait(30) != 0
    assert svc.get(task.id).status == "running"
    (started,) = deliveries(svc)
    assert started["taskId"] == task.id and started["status"] == "pending"


def test_a_task_ended_with_no_deliverer_keeps_its_delivery_and_snapshot(env, make_worker):
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.skipped", "task.completed"]))
    svc = service(env)
    make_worker()
    first = svc.submit("prod-eu", "noop", payload={"ref": "v1"})
    wait_ended(svc, first.id)
    with svc.store.client.pipeline(transaction=True) as pipe:
        pipe.hget(keys.task(first.id), "status")
        pipe.zrange(keys.hooks_by_status("pending"), 0, -1)
        status, pending = pipe.execute()
    assert status == "completed" and len(pending) == 1
    svc.delete(first.id)  # retention deleted the task: the body still has it
    snapshot = json.loads(svc.store.client.hget(keys.hook(pending[0]), "task"))
    assert snapshot["fields"]["payload"] == '{"ref": "v1"}'
    assert snapshot["fields"]["status"] == "completed"


def test_a_lease_is_taken_once_and_a_fenced_off_end_is_refused(env):
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.canceled"]))
    svc = service(env)
    svc.cancel(svc.submit("prod-eu", "noop").id)
    _, (first,) = svc.store.take_deliveries(10, lease_ms=500)
    assert svc.store.take_deliveries(10, lease_ms=500)[1] == []  # leased: nobody else
    (second,) = wait_until(lambda: svc.store.take_deliveries(10, 60_000)[1], 5, "lease end")
    assert second.id == first.id and second.fence != first.fence
    assert svc.store.end_delivery(first, "delivered", status_code=200) == "stale"
    assert svc.store.end_delivery(second, "delivered", status_code=200) == "delivered"
    assert deliveries(svc)[0]["status"] == "delivered"


def test_a_lease_ends_one_try_only(env):
    """An end sent again (redis-py re-sends a command whose reply a timeout lost)
    is refused: a retried try is not counted twice, and a redelivery is not
    ended by the try that ended the delivery before it."""
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.canceled"]))
    svc = service(env)
    svc.cancel(svc.submit("prod-eu", "noop").id)
    _, (leased,) = svc.store.take_deliveries(10, 60_000)
    assert svc.store.end_delivery(leased, "retry", error="refused", retry_ms=60_000) == "retry"
    assert svc.store.end_delivery(leased, "retry", error="refused", retry_ms=60_000) == "stale"
    assert deliveries(svc)[0]["attempts"] == 1

    svc.store.client.zadd(keys.HOOK_DUE, {leased.id: 0})  # due now
    _, (again,) = svc.store.take_deliveries(10, 60_000)
    assert svc.store.end_delivery(again, "delivered", status_code=200) == "delivered"
    svc.redeliver(leased.id)
    assert svc.store.end_delivery(again, "delivered", status_code=200) == "stale"
    (redelivered,) = deliveries(svc)
    assert (redelivered["status"], redelivered["attempts"]) == ("pending", 0)


def test_listing_pages_newest_first_and_checks_its_parameters(env, web_server):
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.canceled"]))
    svc = service(env)
    for _ in range(5):
        svc.cancel(svc.submit("prod-eu", "noop").id)
    url = f"{web_server}/api/v1/webhooks/deliveries"
    seen, cursor = [], None
    while True:
        page = requests.get(url, params={"limit": 2, "cursor": cursor}).json()
        seen += page["deliveries"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [d["id"] for d in seen] == [d["id"] for d in deliveries(svc)]
    assert len(seen) == 5 and len({d["id"] for d in seen}) == 5
    assert [int(d["id"].rsplit("_", 1)[1]) for d in seen] == [5, 4, 3, 2, 1]
    for params, field in [
        ({"status": "lost"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"cursor": "x"}, "cursor"),
    ]:
        r = requests.get(url, params=params)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, params


def test_userinfo_password_never_reaches_redis_or_listings(env):
    env.update(hooks_env("http://user:s3cret-pw@127.0.0.1:9/hook", ["task.canceled"]))
    svc = service(env)
    svc.cancel(svc.submit("prod-eu", "noop").id)
    (d,) = deliveries(svc)
    assert d["url"] == "http://user:***@127.0.0.1:9/hook"
    dumped = [svc.store.client.dump(k) or b"" for k in svc.store.client.scan_iter()]
    assert not any(b"s3cret-pw" in raw for raw in dumped)


def test_retention_drops_only_ended_deliveries_past_it(env):
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.canceled"]))
    svc = service(env)
    for _ in range(3):
        svc.cancel(svc.submit("prod-eu", "noop").id)
    _, leased = svc.store.take_deliveries(2, 60_000)
    for delivery in leased:
        svc.store.end_delivery(delivery, "delivered", status_code=200)
    assert cleanup_deliveries(svc.store, retention_s=3600) == 0
    assert cleanup_deliveries(svc.store, retention_s=1e-9) == 2
    (left,) = deliveries(svc)
    assert left["status"] == "pending"
    assert svc.store.webhook_counts() == {"delivered": 2, "failed": 0}


def test_a_url_full_of_lua_syntax_reaches_redis_byte_for_byte(env):
    """CFG.hooks is Lua text built from the configuration: quotes, brackets,
    backslashes, a Lua comment and non-ASCII in a URL stay data."""
    url = "http://h.example/a\"]]'..redis.call('FLUSHALL')--\\%5Cé[[?q=\\\"x\\065"
    env.update(hooks_env(url, ["task.canceled"], deployments=["prod.eu-*", "a:b?"]))
    svc = service(env)
    svc.cancel(svc.submit("prod.eu-1", "noop").id)
    svc.cancel(svc.submit("prodXeu-1", "noop").id)  # '.' is no Lua wildcard
    svc.cancel(svc.submit("a:bc", "noop").id)
    found = deliveries(svc)
    assert sorted(svc.store.get(d["taskId"])["deployment"] for d in found) == ["a:bc", "prod.eu-1"]
    assert {d["url"] for d in found} == {url}
