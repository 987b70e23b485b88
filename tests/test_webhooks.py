"""Webhooks end to end: real workers, a real deliverer, a real HTTP receiver."""

from __future__ import annotations

import os
import signal

import requests
from standardwebhooks import Webhook

from tests.helpers import jobsvc, wait_ended, wait_until
from tests.webhook_receiver import HOLD, always, first_then, receiving
from tests.webhook_setup import SECRET, deliverer, deliveries, hooks_env, service, wait_delivery


def test_delivered_once_with_a_valid_signature(env, make_worker):
    with receiving(always(200)) as receiver:
        env.update(hooks_env(receiver.url))
        svc = service(env)
        make_worker()
        task = svc.submit("prod-eu", "echo", {"lines": ["hi"]}, metadata={"ticket": "T-1"})
        with deliverer(env):
            done = wait_delivery(svc, "delivered")
        (request,) = receiver.received()
    assert request.headers["content-type"] == "application/json"
    body = Webhook(SECRET).verify(request.body, request.headers)  # the reference library
    assert request.headers["webhook-id"] == done["id"]
    assert body["type"] == "task.completed"
    sent = body["data"]["task"]
    assert "history" not in sent
    assert sent == {k: v for k, v in svc.get(task.id).data.items() if k != "history"}
    assert done["taskId"] == task.id and done["attempts"] == 1
    assert done["lastStatusCode"] == 200 and done["deliveredAt"] is not None
    assert set(done) == {
        "id", "event", "taskId", "url", "status", "attempts",
        "lastStatusCode", "lastError", "createdAt", "deliveredAt",
    }  # fmt: skip


def test_answers_500_are_retried_with_the_same_id_and_body(env, make_worker):
    with receiving(first_then([(500, 0), (503, 0)])) as receiver:
        env.update(hooks_env(receiver.url))
        svc = service(env)
        make_worker()
        svc.submit("prod-eu", "noop")
        with deliverer(env):
            done = wait_delivery(svc, "delivered")
        got = receiver.received()
    assert done["attempts"] == 3 and len(got) == 3
    assert {r.headers["webhook-id"] for r in got} == {done["id"]}
    assert len({r.body for r in got}) == 1
    for r in got:
        Webhook(SECRET).verify(r.body, r.headers)


def test_a_receiver_that_is_down_gets_it_once_it_is_up(env, make_worker):
    with receiving(always(200)) as probe:
        port = int(probe.url.split(":")[2].split("/")[0])
    env.update(hooks_env(f"http://127.0.0.1:{port}/hook"))
    svc = service(env)
    make_worker()
    svc.submit("prod-eu", "noop")
    with deliverer(env):
        wait_until(lambda: [d for d in deliveries(svc) if d["attempts"] >= 2], 30, "failed tries")
        assert deliveries(svc)[0]["lastError"] and deliveries(svc)[0]["status"] == "pending"
        with receiving(always(200), port=port) as receiver:
            wait_delivery(svc, "delivered")
            assert len(receiver.received()) == 1


def test_a_receiver_slower_than_the_timeout_is_retried(env, make_worker):
    with receiving(first_then([(200, 11.0)])) as receiver:
        env.update(hooks_env(receiver.url))
        svc = service(env)
        make_worker()
        svc.submit("prod-eu", "noop")
        with deliverer(env):
            done = wait_delivery(svc, "delivered", timeout=40)
        assert done["attempts"] == 2 and len(receiver.received()) == 2


def test_always_failing_ends_failed_is_listed_and_redelivered(env, make_worker, web_server):
    status = {"code": 500}
    with receiving(lambda n: (status["code"], 0.0)) as receiver:
        env.update(hooks_env(receiver.url), JOBSVC_WEBHOOK_MAX_ATTEMPTS="3")
        svc = service(env)
        make_worker()
        svc.submit("prod-eu", "noop")
        with deliverer(env):
            failed = wait_delivery(svc, "failed")
            assert failed["attempts"] == 3 and failed["lastStatusCode"] == 500
            listed = requests.get(f"{web_server}/api/v1/webhooks/deliveries?status=failed").json()
            assert listed == {"deliveries": [failed], "nextCursor": None}
            out = jobsvc(env, "webhooks", "--status", "failed")
            assert out.returncode == 0 and failed["id"] in out.stdout and "failed" in out.stdout
            status["code"] = 204
            out = jobsvc(env, "redeliver", failed["id"])
            assert out.returncode == 0 and failed["id"] in out.stdout, out.stderr
            done = wait_delivery(svc, "delivered")
        got = receiver.received()
    assert done["id"] == failed["id"] and done["attempts"] == 1
    assert len(got) == 4 and {r.headers["webhook-id"] for r in got} == {failed["id"]}
    assert svc.store.webhook_counts() == {"delivered": 1, "failed": 1}


def test_redeliver_refuses_unknown_and_pending(env, web_server):
    env.update(hooks_env("http://127.0.0.1:9/hook", ["task.canceled"]))
    svc = service(env)
    task = svc.submit("prod-eu", "noop")
    svc.cancel(task.id)
    (pending,) = deliveries(svc)
    assert pending["event"] == "task.canceled" and pending["status"] == "pending"
    url = f"{web_server}/api/v1/webhooks/deliveries"
    r = requests.post(f"{url}/{pending['id']}/redeliver")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"
    for bad in ("msg_0123456789abcdef_99", "nope", "msg_x"):
        r = requests.post(f"{url}/{bad}/redeliver")
        assert r.status_code == 404 and r.json()["error"]["code"] == "delivery_not_found"
    out = jobsvc(env, "redeliver", "msg_0123456789abcdef_99")
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1


def test_a_deliverer_killed_mid_send_is_taken_over(env, make_worker):
    with receiving(first_then([(200, HOLD)])) as receiver:
        # A 1 s timeout makes the lease 6 s: the test waits that, not 15 s.
        env.update(hooks_env(receiver.url), JOBSVC_WEBHOOK_TIMEOUT_S="1")
        svc = service(env)
        make_worker()
        svc.submit("prod-eu", "noop")
        with deliverer(env) as first:
            wait_until(lambda: receiver.received(), 30, "the first try to arrive")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
        assert deliveries(svc)[0]["status"] == "pending"
        with deliverer(env):
            done = wait_delivery(svc, "delivered", timeout=30)
        got = receiver.received()
    assert len(got) == 2 and got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    assert done["attempts"] == 1  # the killed try was never recorded


def test_no_delivery_is_lost_across_a_redis_restart(aof_redis, env, make_worker):
    env.update(JOBSVC_REDIS_URL=aof_redis.url)
    with receiving(always(200)) as receiver:
        env.update(hooks_env(receiver.url))
        svc = service(env)
        make_worker()
        ids = [svc.submit(f"lane-{i}", "noop").id for i in range(5)]
        for task_id in ids:
            wait_ended(svc, task_id)
        assert len(deliveries(svc, "pending")) == 5  # no deliverer yet
        aof_redis.kill()
        aof_redis.start()
        wait_until(lambda: _answers(svc), what="Redis to answer again")
        with deliverer(env):
            wait_until(lambda: len(deliveries(svc, "delivered")) == 5, 30, "all 5 delivered")
        sent = {r.json["data"]["task"]["id"] for r in receiver.received()}
    assert sent == set(ids)


def _answers(svc) -> bool:
    try:
        return bool(svc.store.client.ping())
    except Exception:
        return False
