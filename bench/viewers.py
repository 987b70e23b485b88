"""Live output fan-out: N WebSocket viewers of 50 running tasks on ONE web process.

    pip install websockets               # the viewers' client library (not a jobsvc dependency)
    python -m bench.viewers              # N = 100, then N = 1000: about 70 s on 2 cores
    python -m bench.viewers --quick      # N = 100 only, 8 s window: about 30 s

Everything runs on loopback as real processes: a private ``redis-server``,
50 ``jobsvc worker`` processes each running one ``ticker`` task
(``bench.viewer_tasks``: 20 lines/s, each line carrying its ``time.time()``),
and ``jobsvc web`` with ``WEB_CONCURRENCY=1``.  Viewers (``bench.viewer_client``,
asyncio) watch ``/ws/tasks/{id}?since=<newest id>`` round-robin over the 50
tasks and time every line from ``ctx.log`` to receipt.  Over a steady window the
driver reads the gunicorn worker's CPU, RSS, threads and its Redis connections
(``CLIENT LIST`` names ``jobsvc-relay-<pid>-*``; all of them by source port).

Targets: 1,000 viewers on one process, p99 <= 250 ms, relay connections <= 4.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.viewer_report import Phase, add_viewer_results, print_phase, table
from bench.viewer_stack import (
    ROOT,
    Stack,
    process_clients,
    redis_conns,
    submit_tickers,
    wait_running,
)

# Seconds the driver waits for all viewers of a phase to connect.
CONNECT_DEADLINE_S = 90.0
# Concurrent WebSocket handshakes per client process.
HANDSHAKES = 50


class Viewers:
    """K client processes holding one phase's viewers; stdout lines arrive on a queue."""

    def __init__(self, urls: list[str], processes: int, deflate: bool):
        self.procs: list[subprocess.Popen] = []
        self.lines: queue.Queue = queue.Queue()
        for k in range(processes):
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.viewer_client"],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            self.procs.append(proc)
            threading.Thread(target=self._read, args=(proc,), daemon=True).start()
            self.tell(
                proc, {"urls": urls[k::processes], "concurrency": HANDSHAKES, "deflate": deflate}
            )

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            self.lines.put(json.loads(line))

    @staticmethod
    def tell(proc: subprocess.Popen, message: dict) -> None:
        proc.stdin.write(json.dumps(message) + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    def collect(self, event: str, deadline: float) -> list[dict]:
        got: list[dict] = []
        while len(got) < len(self.procs):
            try:
                message = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(
                    f"viewer processes: {len(got)}/{len(self.procs)} reported {event!r} in time"
                ) from None
            if message["event"] == event:
                got.append(message)
        return got

    def window(self, start: float, end: float) -> None:
        for proc in self.procs:
            self.tell(proc, {"start": start, "end": end})

    def stop(self) -> None:
        for proc in self.procs:
            try:
                self.tell(proc, {"stop": True})
            except (BrokenPipeError, ValueError):
                pass
        for proc in self.procs:
            try:
                proc.wait(8)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def ctx_switches(pid: int) -> int:
    """Context switches of every thread of ``pid`` (psutil counts the main thread only)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in text.splitlines() if "ctxt_switches:" in line)
    return total


def watch_peak(stack: Stack, web: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    """Samples the web worker's Redis connections while viewers connect."""
    client = stack.client()
    while not stop.wait(0.5):
        try:
            peak[0] = max(peak[0], redis_conns(client, web, stack.redis.port)[1])
        except psutil.Error:
            return


def run_phase(stack: Stack, task_ids: list[str], n: int, args: argparse.Namespace) -> Phase:
    web = stack.web_worker()
    since = stack.last_ids(task_ids)
    urls = [
        f"ws://127.0.0.1:{stack.port}/ws/tasks/{tid}?since={since[tid]}"
        for tid in (task_ids[i % len(task_ids)] for i in range(n))
    ]
    processes = args.clients or (1 if n <= 200 else 3)
    phase, peak, done = Phase(n), [0], threading.Event()
    sampler = threading.Thread(target=watch_peak, args=(stack, web, done, peak), daemon=True)
    sampler.start()
    began = time.monotonic()
    viewers = Viewers(urls, processes, args.deflate)
    try:
        ready = viewers.collect("connected", time.monotonic() + CONNECT_DEADLINE_S)
        phase.connect_s = time.monotonic() - began
        phase.connected = sum(r["ok"] for r in ready)
        errors = [e for r in ready for e in r["errors"]]
        if errors:
            print(f"  N={n}: {sum(r['failed'] for r in ready)} failed, e.g. {errors[0]}")
        start = time.time() + args.warmup
        viewers.window(start, start + args.window)
        done.set()
        measure(stack, web, viewers, phase, (start, start + args.window), task_ids)
    finally:
        done.set()
        viewers.stop()
    phase.peak_total = max(peak[0], phase.total)
    return phase


@dataclass
class Counters:
    """Server-side counters read at one edge of the window."""

    cpu: dict[str, float]
    web_user: float
    switches: int
    written: int
    xreads: int
    machine: tuple

    @classmethod
    def read(
        cls, stack: Stack, groups: dict[str, list[psutil.Process]], task_ids: list[str]
    ) -> Counters:
        web = groups["web"][0]
        return cls(
            {name: cpu_s(procs) for name, procs in groups.items()},
            web.cpu_times().user,
            ctx_switches(web.pid),
            stack.lines_written(task_ids),
            xread_calls(stack),
            tuple(psutil.cpu_times()),
        )


def measure(
    stack: Stack,
    web: psutil.Process,
    viewers: Viewers,
    phase: Phase,
    window: tuple[float, float],
    task_ids: list[str],
) -> None:
    """Reads the server's figures over the window, then the viewers' results."""
    groups = {
        "web": [web],
        "clients": [psutil.Process(p.pid) for p in viewers.procs],
        "redis": [stack.redis_process()],
        "workers": stack.worker_processes(),
    }
    start, end = window
    time.sleep(max(0.0, start - time.time()))
    before = Counters.read(stack, groups, task_ids)
    time.sleep(max(0.0, end - time.time()))
    after, seconds = Counters.read(stack, groups, task_ids), end - start
    used = {name: (after.cpu[name] - before.cpu[name]) / seconds * 100 for name in groups}
    idle = machine_idle(before.machine, after.machine)
    web_user = (after.web_user - before.web_user) / seconds * 100
    phase.due_per_s = (after.written - before.written) / seconds * phase.n / len(task_ids)
    phase.cpu, phase.rss_mb = used["web"], web.memory_info().rss / 2**20
    phase.threads = web.num_threads()
    phase.relay, phase.total = redis_conns(stack.client(), web, stack.redis.port)
    phase.extra = {
        "cpu% of one core": {k: round(v) for k, v in used.items()},
        "machine busy%": round(100 - idle * 100),
        "web user/sys %": (round(web_user), round(used["web"] - web_user)),
        "web ctx switches/s": round((after.switches - before.switches) / seconds),
        "hub XREAD calls/s": round((after.xreads - before.xreads) / seconds),
        "web Redis conns by name": dict(
            Counter(
                c["name"] or "(unnamed)"
                for c in process_clients(stack.client(), web, stack.redis.port)
            )
        ),
    }
    add_viewer_results(phase, viewers.collect("result", time.monotonic() + 30), seconds)


def machine_idle(before: tuple, after: tuple) -> float:
    """Share of all cores' time spent idle between two ``psutil.cpu_times()``."""
    fields = psutil.cpu_times()._fields
    delta = {f: a - b for f, a, b in zip(fields, after, before)}
    # guest time is already counted in user time.
    total = sum(v for f, v in delta.items() if f not in ("guest", "guest_nice"))
    return delta["idle"] / total if total else 0.0


def xread_calls(stack: Stack) -> int:
    """XREAD calls so far: only the hub sends them."""
    return int(stack.client().info("commandstats").get("cmdstat_xread", {}).get("calls", 0))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--quick", action="store_true", help="N = 100 only, 8 s window")
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1100, help="gunicorn threads")
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="viewer processes per phase (default: 1 up to 200 viewers, else 3)",
    )
    parser.add_argument(
        "--deflate", action="store_true", help="viewers offer permessage-deflate, as browsers do"
    )
    parser.add_argument(
        "--whatif",
        action="store_true",
        help="serve with bench.viewer_whatif (the hub's pause from "
        "JOBSVC_WHATIF_COALESCE_MS; not jobsvc as is)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and its logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.viewers, args.window, args.warmup = [100], 8.0, 2.0
    return args


def run(args: argparse.Namespace, tmp: Path) -> list[Phase]:
    stack = Stack(tmp, args.tasks, args.threads, args.whatif)
    phases: list[Phase] = []
    try:
        stack.start()
        svc = stack.service()
        ticker_s = 60 + len(args.viewers) * (CONNECT_DEADLINE_S + args.warmup + args.window)
        task_ids = submit_tickers(svc, args.tasks, ticker_s)
        web = stack.wait_web(task_ids[0], time.monotonic() + 60)
        wait_running(svc, task_ids, time.monotonic() + 90)
        print(f"{args.tasks} tickers running; web worker pid {web.pid}", flush=True)
        for n in args.viewers:
            phase = run_phase(stack, task_ids, n, args)
            phases.append(phase)
            print_phase(phase)
            time.sleep(2)  # lets the web process notice the closed viewers
    finally:
        stack.stop()
    return phases


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="jobsvc-viewers-"))
    print(
        f"live viewers: {args.tasks} tickers x 20 lines/s, one web process, "
        f"N = {args.viewers}, window {args.window:.0f}s, {psutil.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
        + (" [WHAT-IF: bench.viewer_whatif]" if args.whatif else ""),
        flush=True,
    )
    ok = False
    try:
        phases = run(args, tmp)
        print(table(phases))
        ok = True
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
