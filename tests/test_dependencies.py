"""Dependencies between tasks (``dependsOn``): a task starts only once every task it
depends on has completed, its lane waits for it when it is the head, and a dependency
that ends otherwise skips it (``dependency_failed``), transitively.

Real redis-server, real worker processes, a real HTTP server and the CLI as a real
process; where a test drives an attempt by hand it goes through the store's own
claim and finish scripts, as a worker does.
"""

from __future__ import annotations

import json

import pytest
import redis

from jobsvc import keys
from jobsvc.errors import Conflict, DependencyRefused, InvalidInput
from jobsvc.policy import ORPHAN_GRACE_S, US
from jobsvc.processes.reconcile import reconcile_all
from jobsvc.processes.retention import cleanup_ended
from tests.api_client import Api, assert_error, task_count
from tests.helpers import jobsvc, wait_ended, wait_until

# submit.lua's bound on the tasks its deadlock check follows.
DEADLOCK_WALK = 1000

MISSING = "0123456789abcdef"


def run_by_hand(svc, task_id: str, outcome: str = "completed") -> None:
    """One attempt of the lane's active task, claimed and finished as a worker would."""
    task = svc.get(task_id)
    claim = svc.store.claim(task_id, "test-worker")
    assert claim.code == "ok", claim
    svc.store.finish(
        task_id, task.deployment, claim.token, outcome=outcome, error=None, retryable=False
    )


def check_time(svc, deployment: str) -> float | None:
    return svc.store.client.zscore(keys.CHECKS, deployment)


# -- both outcomes, with real workers ----------------------------------------------------------


def test_dependent_in_another_lane_starts_after_its_dependency_completed(
    svc, make_worker, tmp_path
):
    gate = tmp_path / "go"
    build = svc.submit("build", "wait_file", {"path": str(gate)})
    deploy = svc.submit("prod-eu", "noop", depends_on=[build.id])
    assert (deploy.depends_on, deploy.waiting_on) == ([build.id], [build.id])
    make_worker()
    make_worker()
    wait_until(lambda: svc.get(build.id).status == "running", what="the dependency to run")
    assert svc.get(deploy.id).status == "queued"
    gate.touch()
    done, dep = wait_ended(svc, deploy.id), svc.store.get(build.id)
    assert done["status"] == "completed" and done["waitingOn"] == []
    assert dep["completedAt"] <= done["startedAt"]


def test_failed_dependency_skips_its_dependents_through_a_chain_of_three(svc, make_worker):
    first = svc.submit("a", "fail", retries=0)
    second = svc.submit("b", "noop", depends_on=[first.id])
    third = svc.submit("c", "noop", depends_on=[second.id])
    after = svc.submit("c", "noop")  # behind the skipped head: the lane moves on
    make_worker()
    assert wait_ended(svc, first.id)["status"] == "failed"
    for task, dependency, status in ((second, first, "failed"), (third, second, "skipped")):
        ended = wait_ended(svc, task.id)
        assert ended["status"] == "skipped" and ended["startedAt"] is None
        assert ended["error"]["reason"] == "dependency_failed"
        assert ended["error"]["message"] == f"dependency {dependency.id} ended {status}"
    assert wait_ended(svc, after.id)["status"] == "completed"


def test_lane_head_waiting_on_a_dependency_blocks_its_lane_until_it_completes(
    svc, make_worker, tmp_path
):
    gate = tmp_path / "go"
    build = svc.submit("build", "wait_file", {"path": str(gate)})
    head = svc.submit("prod-eu", "noop", depends_on=[build.id])
    behind = svc.submit("prod-eu", "noop")
    other = svc.submit("prod-us", "noop")
    make_worker()
    make_worker()
    assert wait_ended(svc, other.id)["status"] == "completed"  # workers are free
    wait_until(lambda: svc.get(build.id).status == "running", what="the dependency to run")
    lane = svc.deployment("prod-eu")
    assert lane["activeTaskId"] is None and lane["queueDepth"] == 2
    assert svc.get(head.id).waiting_on == [build.id]
    assert svc.get(behind.id).status == "queued"  # lane order: the head is not skipped
    gate.touch()
    first, second = wait_ended(svc, head.id), wait_ended(svc, behind.id)
    assert first["status"] == second["status"] == "completed"
    assert svc.store.get(build.id)["completedAt"] <= first["startedAt"]
    assert first["completedAt"] <= second["startedAt"]


def test_dependency_completed_before_the_submit_is_satisfied_at_once(svc, make_worker):
    make_worker()
    build = svc.submit("build", "noop")
    wait_ended(svc, build.id)
    deploy = svc.submit("prod-eu", "noop", depends_on=[build.id])
    assert (deploy.position, deploy.waiting_on) == (0, [])
    assert wait_ended(svc, deploy.id)["status"] == "completed"


# -- what a submission may name ------------------------------------------------------------


@pytest.fixture
def api(web_server: str) -> Api:
    return Api(web_server)


def test_unknown_dependency_is_a_422_naming_it_and_writes_nothing(api, redis_url):
    error = assert_error(
        api.post("/deployments/prod-eu/tasks", json={"type": "noop", "dependsOn": [MISSING]}),
        422,
        "unknown_dependency",
        "dependsOn",
    )
    assert MISSING in error["message"]
    assert task_count(redis_url) == 0
    assert redis.Redis.from_url(redis_url).get(keys.SEQ) is None


def test_dependency_behind_the_task_in_its_own_lane_is_a_deadlock(api, svc, redis_url):
    active = api.submit("prod-eu")
    low = api.submit("prod-eu", priority="low")
    ahead = api.submit("prod-eu", priority="low", expect=201, dependsOn=[active["id"]])
    seq = redis.Redis.from_url(redis_url).get(keys.SEQ)
    body = {"type": "noop", "priority": "high", "dependsOn": [low["id"]]}
    error = assert_error(
        api.post("/deployments/prod-eu/tasks", json=body), 422, "dependency_deadlock", "dependsOn"
    )
    assert low["id"] in error["message"]
    assert task_count(redis_url) == 3 and redis.Redis.from_url(redis_url).get(keys.SEQ) == seq
    assert ahead["waitingOn"] == [active["id"]]  # ahead of it in its lane: not a deadlock


def test_deadlock_through_another_lane_is_refused(svc):
    svc.submit("prod-eu", "noop")  # active
    late = svc.submit("prod-eu", "noop", priority="low")
    relay = svc.submit("prod-us", "noop", depends_on=[late.id])
    with pytest.raises(DependencyRefused) as refused:
        svc.submit("prod-eu", "noop", depends_on=[relay.id])
    assert refused.value.code == "dependency_deadlock" and late.id in refused.value.message


def test_deadlock_through_the_order_of_two_lanes_is_refused(svc):
    """N in eu would wait on C in us; C waits (lane order) behind B, which waits on
    A in eu, queued behind N: a cycle no dependency chain alone shows."""
    svc.submit("prod-eu", "noop")  # active
    svc.submit("prod-us", "noop")  # active
    a = svc.submit("prod-eu", "noop", priority="low")
    svc.submit("prod-us", "noop", priority="high", depends_on=[a.id])
    c = svc.submit("prod-us", "noop", priority="low")
    with pytest.raises(DependencyRefused) as refused:
        svc.submit("prod-eu", "noop", depends_on=[c.id])
    assert refused.value.code == "dependency_deadlock" and a.id in refused.value.message


def test_waits_too_far_to_check_are_refused_and_write_nothing(svc, redis_url):
    """Past the check's bound a submission is refused, not accepted unchecked: a
    deadlock hidden beyond it would wedge both lanes (and every lane behind them)."""
    svc.submit("prod-us", "noop")  # active: the rest wait in its lane
    queued = [svc.submit("prod-us", "noop").id for _ in range(DEADLOCK_WALK + 1)]
    near = svc.submit("prod-eu", "noop", depends_on=[queued[DEADLOCK_WALK // 2]])
    assert near.waiting_on == [queued[DEADLOCK_WALK // 2]]
    before = (task_count(redis_url), redis.Redis.from_url(redis_url).get(keys.SEQ))
    with pytest.raises(DependencyRefused) as refused:
        svc.submit("prod-eu", "noop", depends_on=[queued[-1]])
    assert refused.value.code == "dependency_deadlock"
    assert "too far to check" in refused.value.message
    assert (task_count(redis_url), redis.Redis.from_url(redis_url).get(keys.SEQ)) == before


@pytest.mark.parametrize(
    "value",
    [
        "abcdef0123456789",
        ["not-an-id"],
        [1],
        ["abcdef0123456789", "abcdef0123456789"],
        [f"{i:016x}" for i in range(51)],
    ],
)
def test_malformed_depends_on_is_a_400_naming_the_field(api, redis_url, value):
    body = {"type": "noop", "dependsOn": value}
    assert_error(
        api.post("/deployments/prod-eu/tasks", json=body), 400, "invalid_input", "dependsOn"
    )
    assert task_count(redis_url) == 0


def test_dedupe_returns_the_existing_task_with_its_own_depends_on(svc):
    build = svc.submit("build", "noop")
    first = svc.submit("prod-eu", "noop", dedupe_key="k")
    again = svc.submit("prod-eu", "noop", dedupe_key="k", depends_on=[build.id])
    assert again.deduplicated and again.id == first.id
    assert again.depends_on == [] and again.waiting_on == []


def test_python_api_validates_depends_on_as_the_http_api(svc):
    with pytest.raises(InvalidInput) as bad:
        svc.submit("prod-eu", "noop", depends_on=["x"])
    assert bad.value.field == "dependsOn"


def test_cli_depends_on_is_repeatable(env, svc):
    first, second = svc.submit("a", "noop"), svc.submit("b", "noop")
    out = jobsvc(
        env,
        "submit",
        "prod-eu",
        "noop",
        "--depends-on",
        first.id,
        "--depends-on",
        second.id,
        "--json",
    )
    assert out.returncode == 0, out.stderr
    task = json.loads(out.stdout)
    assert task["dependsOn"] == [first.id, second.id] == task["waitingOn"]
    shown = jobsvc(env, "show", task["id"])
    assert f"  waitingOn: {first.id} {second.id}\n" in shown.stdout, shown.stdout
    bad = jobsvc(env, "submit", "prod-eu", "noop", "--depends-on", MISSING)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and MISSING in bad.stderr
    malformed = jobsvc(env, "submit", "prod-eu", "noop", "--depends-on", "nope")
    assert malformed.returncode != 0 and "--depends-on" in malformed.stderr


# -- ending a waiting task, retrying one ----------------------------------------------------


def test_skipping_a_waiting_head_lets_its_lane_move_on(svc):
    build = svc.submit("build", "noop")
    head = svc.submit("prod-eu", "noop", depends_on=[build.id])
    behind = svc.submit("prod-eu", "noop")
    assert svc.deployment("prod-eu")["activeTaskId"] is None
    svc.skip(head.id)
    assert svc.deployment("prod-eu")["activeTaskId"] == behind.id
    assert not svc.store.client.exists(keys.waits(head.id), keys.dependents(build.id))


def test_canceled_dependency_skips_a_dependent_submitted_after_it(svc):
    build = svc.submit("build", "noop")
    svc.cancel(build.id)
    late = svc.submit("prod-eu", "noop", depends_on=[build.id])
    assert late.status == "skipped" and late.error["reason"] == "dependency_failed"
    assert svc.deployment("prod-eu")["activeTaskId"] is None


def test_retry_of_a_canceled_dependent_waits_again(svc):
    build = svc.submit("build", "noop")
    deploy = svc.submit("prod-eu", "noop", depends_on=[build.id])
    svc.cancel(deploy.id)
    assert svc.retry(deploy.id).waiting_on == [build.id]
    run_by_hand(svc, build.id)
    assert svc.deployment("prod-eu")["activeTaskId"] == deploy.id


def test_retry_of_a_dependent_whose_dependency_failed_is_refused(svc):
    build = svc.submit("build", "noop")
    deploy = svc.submit("prod-eu", "noop", depends_on=[build.id])
    svc.cancel(deploy.id)
    run_by_hand(svc, build.id, outcome="failed")
    with pytest.raises(Conflict, match=f"depends on {build.id}, which ended failed"):
        svc.retry(deploy.id)


def test_long_chain_of_skips_is_finished_by_the_ticker(svc):
    """One script skips a bounded number (_lib.lua's CASCADE_MAX); take_due goes on."""
    root = svc.submit("root", "noop")
    chain = [root]
    for i in range(250):
        chain.append(svc.submit(f"lane-{i}", "noop", depends_on=[chain[-1].id]))
    svc.cancel(root.id)
    assert svc.store.client.llen(keys.CASCADE) == 1 and svc.store.due_pending()
    svc.store.take_due()
    assert not svc.store.due_pending()
    assert {svc.get(t.id).status for t in chain[1:]} == {"skipped"}


# -- retention and the reconciler ------------------------------------------------------------


def test_retention_keeps_a_task_that_a_waiting_task_depends_on(svc):
    build = svc.submit("build", "noop")
    run_by_hand(svc, build.id)
    svc.pause("prod-eu")
    deploy = svc.submit("prod-eu", "noop", depends_on=[build.id])
    assert cleanup_ended(svc.store, days=0) == (1, 0)
    assert svc.get(build.id).status == "completed"
    svc.cancel(deploy.id)
    assert cleanup_ended(svc.store, days=0) == (1, 2)  # the dependent ended: both go
    assert not svc.store.client.exists(keys.task(build.id), keys.dependents(build.id))


def test_reconciler_leaves_a_lane_waiting_on_a_dependency_alone(svc):
    build = svc.submit("build", "noop")
    svc.submit("prod-eu", "noop", depends_on=[build.id])
    assert check_time(svc, "prod-eu") is None
    for every_lane in (False, True, False):
        report = reconcile_all(svc.store, orphan_grace_s=0, every_lane=every_lane)
        assert "prod-eu" not in report.promoted and report.failed == []
        assert check_time(svc, "prod-eu") is None  # out of the index: no churn
    run_by_hand(svc, build.id)
    deploy = svc.deployment("prod-eu")["activeTaskId"]
    assert deploy is not None
    assert (
        check_time(svc, "prod-eu")
        == int(svc.store.client.hget(keys.task(deploy), "dispatchedAt")) + ORPHAN_GRACE_S * US
    )


def test_release_after_the_reconciler_looked_is_not_lost(svc):
    build = svc.submit("build", "noop")
    svc.submit("prod-eu", "noop", depends_on=[build.id])
    seen = svc.store.lane_state("prod-eu")  # idle, its head waiting
    assert svc.store.promote("prod-eu") == 0
    run_by_hand(svc, build.id)  # releases the head between the look and the write
    assert svc.store.reschedule([(seen, svc.store.redis_now_us() + 3600 * US)]) == 0
    lane = svc.deployment("prod-eu")
    assert lane["activeTaskId"] is not None
    assert svc.store.dispatcher.rq_job(lane["activeTaskId"]).exists
