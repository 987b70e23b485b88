"""Chaos test: submit under faults, then check the contract's invariants from history.

    python bench/chaos.py            # 5,000 tasks over 100 deployments
    python bench/chaos.py --short    # the CI version (about 2 minutes)

Several submitter processes send tasks with random deployments, priorities
and dedupe keys, recording every accepted answer: a share of them depend on
a task the same submitter had accepted earlier in another lane, a few fail,
and a share are 3-step tasks (bench/step_tasks.py) whose steps write down
every run.  Meanwhile: 3 forking
workers, one of them killed (-9) and restarted every few seconds, a random
work-horse killed, a worker frozen (SIGSTOP) past its lease and thawed, and
Redis (AOF, appendfsync always) killed and restarted twice; the real
scheduler process runs the reconcilers.  Every process has one webhook
subscription (all five events) to a real HTTP receiver in this process,
which now and then answers 500 or slowly (past the deliverer's timeout at
times); two `jobsvc deliverer` processes send, and one of them is killed
(-9) and restarted at random ticks.  When the faults stop, every
accepted task must end within the deadline, then every delivery (no one
left pending).  Then the checker reads each
task's history and prints: accepted, completed, retried, failed by reason,
lost, overlaps, order violations, duplicate identities, early starts
(invariant 7), dependents of a failed dependency not skipped, re-run
completed steps (invariant 6), and for invariant 8 (bench/webhook_invariant.py)
the webhook transitions, received, duplicates, failed-listed and missing.
Exit 0 only if what must be 0 is.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench.step_tasks  # noqa: E402, F401  (registers the multi-step type for submitters)
from bench.invariants import ENDED, PRIORITIES, check, passed, rerun_steps  # noqa: E402
from bench.webhook_invariant import check_webhooks, webhooks_passed  # noqa: E402
from jobsvc.errors import DependencyRefused  # noqa: E402
from jobsvc.processes.redis_server import RedisServer  # noqa: E402
from jobsvc.service import Service  # noqa: E402
from jobsvc.settings import Settings  # noqa: E402
from tests.webhook_receiver import Answer, Receiver, receiving  # noqa: E402
from tests.webhook_setup import SECRET  # noqa: E402


@dataclass
class Plan:
    tasks: int = 5000
    deployments: int = 100
    submitters: int = 4
    workers: int = 3
    fault_every_s: float = 2.0
    redis_restarts: int = 2
    settle_s: float = 300.0  # every task must end this long after the faults stop
    seconds: tuple[float, ...] = (0.01, 0.02, 0.05)  # how long one task sleeps
    seed: int = 1
    depends_share: float = 0.15  # submissions that depend on an earlier task of another lane
    fail_share: float = 0.03  # tasks that fail (no retry): their dependents must end skipped
    step_share: float = 0.2  # of the tasks, 3-step tasks
    deliverers: int = 2
    deliverer_kill_share: float = 0.4  # of the fault ticks, those that also kill a deliverer
    hooks_settle_s: float = 120.0  # no delivery may be pending this long after the tasks end


# Longer tasks: with fewer of them, faults still find tasks running.
SHORT = Plan(
    tasks=1000,
    deployments=30,
    submitters=2,
    fault_every_s=1.5,
    # A deadline, not a wait: settled runs take 48-55 s; one at load average 16 (two
    # deliverers and the receiver beside the workers on 2 cores) needed more than 120.
    settle_s=300.0,
    seconds=(0.05, 0.1, 0.2),
)

ENV = {
    "JOBSVC_LEASE_S": "3",
    "JOBSVC_RECONCILE_S": "2",
    "JOBSVC_BACKOFF_S": "0.2",
    "JOBSVC_SHUTDOWN_S": "5",
    "JOBSVC_TASK_MODULES": "bench.step_tasks",
    # Quick webhook retries (0.1 s doubling: 8 tries within about 30 s), and a
    # try timeout that the receiver's slowest answers overrun.
    "JOBSVC_WEBHOOK_BACKOFF_S": "0.1",
    "JOBSVC_WEBHOOK_TIMEOUT_S": "2",
}
EVENTS = ["task.started", "task.completed", "task.failed", "task.canceled", "task.skipped"]


def hooks_env(url: str) -> dict[str, str]:
    """One subscription to every event of every deployment, for every process."""
    return {"JOBSVC_WEBHOOKS": json.dumps([{"url": url, "secret": SECRET, "events": EVENTS}])}


def flaky(seed: int) -> Answer:
    """How the receiver answers its n-th request: mostly 204 at once; 8 % a 500,
    4 % a 204 after half a second, 2 % a 204 after the deliverer's timeout
    (a try that failed for the deliverer though the receiver got it)."""
    late = float(ENV["JOBSVC_WEBHOOK_TIMEOUT_S"]) + 0.5

    def answer(n: int) -> tuple[int, float]:
        r = random.Random(seed * 1_000_003 + n).random()
        if r < 0.08:
            return 500, 0.0
        if r < 0.12:
            return 204, 0.5
        return (204, late) if r < 0.14 else (204, 0.0)

    return answer


# -- submitters ------------------------------------------------------------------


def dependency(rng: random.Random, plan: Plan, lane: str, earlier: list[tuple[str, str]]) -> list:
    """``dependsOn`` for a share of the submissions: one of the last tasks this
    submitter had accepted, in another lane."""
    others = [tid for tid, where in earlier[-50:] if where != lane]
    return [rng.choice(others)] if others and rng.random() < plan.depends_share else []


def submit(svc: Service, lane: str, body: dict) -> tuple[dict, bool]:
    """A submission, retried while Redis restarts; one refused as a deadlock
    goes again without its dependency (the refusal is the contract's answer)."""
    while True:
        try:
            return svc.submit_body(lane, body)
        except redis.RedisError:  # Redis is being restarted: the client retries
            time.sleep(0.2)
        except DependencyRefused:
            body = {k: v for k, v in body.items() if k != "dependsOn"}


def submitter(env: dict[str, str], plan: Plan, index: int, count: int, out: str) -> None:
    """Submits ``count`` tasks, appending every accepted answer to ``out``."""
    rng = random.Random(plan.seed * 1000 + index)
    url = env["JOBSVC_REDIS_URL"]
    svc = Service(url, Settings.from_env(env))
    earlier: list[tuple[str, str]] = []
    with open(out, "a") as log:
        for n in range(count):
            lane = f"dep-{rng.randrange(plan.deployments)}"
            key = f"k{rng.randrange(20)}" if rng.random() < 0.3 else None
            body = {
                "type": "sleep",
                "payload": {"seconds": rng.choice(plan.seconds)},
                "priority": rng.choice(PRIORITIES),
                "maxRetries": 5,
            }
            if rng.random() < plan.step_share:
                body["type"] = "chaos_steps"
                body["payload"]["runs"] = str(Path(out).parent / "runs")
            if key:
                body["dedupeKey"] = key
            if rng.random() < plan.fail_share:
                body.update({"type": "fail", "payload": {}, "maxRetries": 0})
            if depends_on := dependency(rng, plan, lane, earlier):
                body["dependsOn"] = depends_on
            task, dedup = submit(svc, lane, body)
            earlier.append((task["id"], lane))
            log.write(json.dumps({"id": task["id"], "deduplicated": dedup, "n": n}) + "\n")
            log.flush()


# -- processes and faults -----------------------------------------------------------


class Cluster:
    def __init__(self, plan: Plan, workdir: Path, hook_url: str):
        self.plan, self.workdir = plan, workdir
        self.redis = RedisServer(workdir / "redis", appendonly=True, appendfsync="always")
        self.env = {**os.environ, **ENV, **hooks_env(hook_url), "TZ": "UTC"}
        self.workers: list[subprocess.Popen] = []
        self.deliverers: list[subprocess.Popen] = []
        self.scheduler: subprocess.Popen | None = None
        self.faults: Counter = Counter()

    def start(self) -> None:
        self.redis.start()
        self.env["JOBSVC_REDIS_URL"] = self.redis.url
        self.scheduler = self._spawn([sys.executable, "scheduler.py"])
        self.workers = [self._worker() for _ in range(self.plan.workers)]
        self.deliverers = [self._deliverer() for _ in range(self.plan.deliverers)]

    def jobsvc_env(self) -> dict[str, str]:
        """The configuration every jobsvc process gets (the submitters' too)."""
        return {k: v for k, v in self.env.items() if k.startswith("JOBSVC_")}

    def _spawn(self, argv: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _worker(self) -> subprocess.Popen:
        return self._spawn([sys.executable, "-m", "jobsvc", "worker", "--worker-class", "fork"])

    def _deliverer(self) -> subprocess.Popen:
        return self._spawn([sys.executable, "-m", "jobsvc", "deliverer"])

    def horses(self) -> list[psutil.Process]:
        return [h for worker in self.workers for h in _children(worker.pid)]

    def busy_worker(self, rng: random.Random) -> int:
        """A worker with a running work-horse if there is one, so the fault hits a task."""
        busy = [i for i, w in enumerate(self.workers) if _children(w.pid)]
        return rng.choice(busy) if busy else rng.randrange(len(self.workers))

    def kill_worker(self, rng: random.Random) -> None:
        """kill -9 of a worker (its horse, in a group of its own, dies with it), then a new one."""
        i = self.busy_worker(rng)
        _killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait()
        self.workers[i] = self._worker()
        self.faults["worker killed"] += 1

    def kill_horse(self, rng: random.Random) -> None:
        horses = self.horses()
        if horses:
            _killpg(rng.choice(horses).pid, signal.SIGKILL)
            self.faults["work-horse killed"] += 1

    def freeze_worker(self, rng: random.Random) -> None:
        """SIGSTOP a worker and its horse past the lease, then SIGCONT them."""
        worker = self.workers[self.busy_worker(rng)]
        groups = [worker.pid] + [h.pid for h in _children(worker.pid)]
        for pid in groups:
            _killpg(pid, signal.SIGSTOP)
        time.sleep(float(ENV["JOBSVC_LEASE_S"]) + 2)  # the fault itself: frozen past the lease
        for pid in groups:
            _killpg(pid, signal.SIGCONT)
        self.faults["worker frozen past its lease"] += 1

    def kill_deliverer(self, rng: random.Random) -> None:
        """kill -9 of a deliverer, likely mid-send (its leases must run out), then a new one."""
        i = rng.randrange(len(self.deliverers))
        _killpg(self.deliverers[i].pid, signal.SIGKILL)
        self.deliverers[i].wait()
        self.deliverers[i] = self._deliverer()
        self.faults["deliverer killed"] += 1

    def restart_redis(self) -> None:
        self.redis.kill()
        self.redis.start()
        self.faults["redis killed and restarted"] += 1

    def stop(self) -> None:
        for proc in [*self.workers, *self.deliverers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for horse in self.horses():
            _killpg(horse.pid, signal.SIGKILL)
        self.redis.kill()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def inject_faults(cluster: Cluster, submitters: list, plan: Plan) -> None:
    """Faults every few seconds while submitters run; Redis restarts spread over the run.
    A share of the ticks also kills a deliverer (its own random draws, so the
    other faults fall as they did before deliverers were in the run)."""
    rng = random.Random(plan.seed)
    hook_rng = random.Random(plan.seed + 7)
    actions = (cluster.kill_worker, cluster.kill_horse, cluster.freeze_worker)
    tick = 0
    restarts_at = {3 + 4 * i for i in range(plan.redis_restarts)}
    while any(p.is_alive() for p in submitters) or tick < 4 + 4 * plan.redis_restarts:
        time.sleep(plan.fault_every_s)
        tick += 1
        if tick in restarts_at:
            cluster.restart_redis()
        else:
            rng.choice(actions)(rng)
        if hook_rng.random() < plan.deliverer_kill_share:
            cluster.kill_deliverer(hook_rng)


# -- the run ------------------------------------------------------------------------------


def wait_ended(svc: Service, ids: list[str], deadline: float) -> None:
    """Until every accepted task has ended, or the deadline."""
    while time.monotonic() < deadline:
        tasks = svc.store.get_many(ids)
        if all(t is not None and t["status"] in ENDED for t in tasks):
            return
        time.sleep(1.0)


def wait_delivered(svc: Service, deadline: float) -> int:
    """Until no webhook delivery is pending, or the deadline; returns how many are."""
    while (pending := svc.store.pending_deliveries()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return pending


def run(plan: Plan, workdir: Path | None = None) -> dict:
    with receiving(flaky(plan.seed)) as receiver:
        return _run(plan, Path(workdir or tempfile.mkdtemp(prefix="jobsvc-chaos-")), receiver)


def _run(plan: Plan, workdir: Path, receiver: Receiver) -> dict:
    cluster = Cluster(plan, workdir, receiver.url)
    answers = workdir / "accepted.jsonl"
    (workdir / "runs").mkdir(exist_ok=True)
    try:
        cluster.start()
        env = cluster.jobsvc_env()
        ctx = multiprocessing.get_context("spawn")
        share = plan.tasks // plan.submitters
        procs = [
            ctx.Process(target=submitter, args=(env, plan, i, share, str(answers)))
            for i in range(plan.submitters)
        ]
        started = time.monotonic()
        for p in procs:
            p.start()
        inject_faults(cluster, procs, plan)
        for p in procs:
            p.join()
        faults_stopped = time.monotonic()
        accepted = [json.loads(line)["id"] for line in answers.read_text().splitlines()]
        ids = sorted(set(accepted))
        svc = Service(cluster.redis.url, Settings.from_env(env))
        wait_ended(svc, ids, faults_stopped + plan.settle_s)
        ended = time.monotonic()
        pending = wait_delivered(svc, ended + plan.hooks_settle_s)
        result = check(svc, accepted)
        tasks = svc.store.get_many(ids)
        result.update(rerun_steps(tasks, workdir / "runs"))
        failed = list(svc.deliveries(status="failed"))
        result.update(check_webhooks(tasks, receiver.received(), failed, SECRET))
        result["webhook pending at the end"] = pending
        result["faults"] = dict(cluster.faults)
        result["processes alive at the end"] = {
            "workers": sum(w.poll() is None for w in cluster.workers),
            "deliverers": sum(d.poll() is None for d in cluster.deliverers),
            "scheduler": cluster.scheduler is not None and cluster.scheduler.poll() is None,
        }
        result["seconds under faults"] = round(faults_stopped - started, 1)
        result["seconds to settle"] = round(ended - faults_stopped, 1)
        result["seconds to deliver the rest"] = round(time.monotonic() - ended, 1)
        return result
    finally:
        cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the CI version")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    plan = SHORT if args.short else Plan()
    plan.seed = args.seed
    result = run(plan)
    for name, value in result.items():
        print(f"{name:>30}: {value}")
    ok = passed(result) and webhooks_passed(result)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
