"""One process of WebSocket viewers for ``bench/viewers.py`` (asyncio, ``websockets``).

    python -m bench.viewer_client      # driven over stdin/stdout, one JSON object a line

The driver writes ``{"urls": [...], "concurrency": C, "deflate": false}``; this
process opens every URL (at most C handshakes at once) and answers
``{"event": "connected", ...}``.  The driver then writes ``{"start": t0, "end": t1}``
(``time.time()`` values); for every log line received in that window the
latency (receive time minus the send time embedded by ``bench.viewer_tasks``)
goes into a histogram of 0.1 ms buckets, sent back as ``{"event": "result", ...}``
after ``t1``.  Any further line (or EOF) closes the viewers and ends the process.

Needs ``pip install websockets`` (not a jobsvc dependency).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# Histogram bucket width: 0.1 ms.
BUCKETS_PER_MS = 10
# How often the event-loop lag probe wakes, in seconds.
LAG_PROBE_S = 0.01
LINE_MARK = '"line": "'


@dataclass
class Tally:
    """What every viewer of this process saw; the window is set by the driver."""

    start: float = math.inf
    end: float = math.inf
    hist: Counter = field(default_factory=Counter)
    msgs: int = 0
    gaps: int = 0
    dups: int = 0
    open: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)
    closed: Counter = field(default_factory=Counter)
    lag_ms: list = field(default_factory=list)
    # Per whole second of receive time: [lines, latency sum in s, latency max in s].
    seconds: dict = field(default_factory=dict)
    handshake_s: list = field(default_factory=list)

    def line(self, text: str, now: float, last: int) -> int:
        """Records one log line; returns its sequence number."""
        seq_text, _, sent = text.partition(" ")
        seq = int(seq_text)
        if last >= 0 and seq != last + 1:
            if seq <= last:
                self.dups += 1
            else:
                self.gaps += 1
        latency = now - float(sent)
        second = self.seconds.setdefault(int(now), [0, 0.0, 0.0])
        second[0] += 1
        second[1] += latency
        second[2] = max(second[2], latency)
        if self.start <= now < self.end:
            self.msgs += 1
            self.hist[max(0, int(latency * 1000 * BUCKETS_PER_MS))] += 1
        return seq


def log_line(message: str) -> str | None:
    """The ``data.line`` of a log event, without a full JSON parse when the shape allows."""
    if '"type": "log"' not in message:
        return None
    at = message.rfind(LINE_MARK)
    if at >= 0 and message.endswith('"}}') and "\\" not in message[at:]:
        return message[at + len(LINE_MARK) : -3]
    event = json.loads(message)
    return event["data"]["line"] if event.get("type") == "log" else None


async def watch(ws: ClientConnection, tally: Tally) -> None:
    last = -1
    try:
        async for message in ws:
            now = time.time()
            text = log_line(message)  # type: ignore[arg-type]
            if text is not None:
                last = tally.line(text, now, last)
        tally.closed[str(ws.close_code)] += 1
    except ConnectionClosed as exc:
        tally.closed[f"{exc.rcvd.code} {exc.rcvd.reason[:60]}" if exc.rcvd else "abnormal"] += 1
    finally:
        tally.open -= 1


async def open_viewer(
    url: str, gate: asyncio.Semaphore, deflate: bool, tally: Tally
) -> ClientConnection | None:
    async with gate:
        began = time.monotonic()
        try:
            ws = await connect(
                url,
                compression="deflate" if deflate else None,
                ping_interval=None,
                open_timeout=60,
                close_timeout=2,
            )
        except Exception as exc:  # noqa: BLE001  (every failure is counted and reported)
            tally.failed += 1
            if len(tally.errors) < 5:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
            return None
    tally.handshake_s.append(time.monotonic() - began)
    tally.open += 1
    return ws


async def probe_lag(tally: Tally) -> None:
    """How late the event loop wakes a sleeper in the window: client saturation, in ms."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(LAG_PROBE_S)
        now = time.time()
        if tally.start <= now < tally.end:
            tally.lag_ms.append((time.monotonic() - before - LAG_PROBE_S) * 1000)


async def read_command() -> dict:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return json.loads(line) if line.strip() else {}


def say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def result(tally: Tally) -> dict:
    lags = sorted(tally.lag_ms) or [0.0]
    return {
        "event": "result",
        "msgs": tally.msgs,
        "hist": dict(tally.hist),
        "gaps": tally.gaps,
        "dups": tally.dups,
        "open": tally.open,
        "closed": dict(tally.closed),
        "lag_p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "lag_max_ms": lags[-1],
        "seconds": tally.seconds,
        "handshake_s": sorted(tally.handshake_s),
    }


async def main() -> None:
    tally = Tally()
    setup = await read_command()
    gate = asyncio.Semaphore(int(setup.get("concurrency", 50)))
    lag = asyncio.create_task(probe_lag(tally))
    watchers: list[asyncio.Task] = []

    async def open_and_watch(url: str) -> ClientConnection | None:
        # Read from the first moment: a viewer left unread would stall the server's sends.
        ws = await open_viewer(url, gate, bool(setup.get("deflate")), tally)
        if ws is not None:
            watchers.append(asyncio.create_task(watch(ws, tally)))
        return ws

    opened = await asyncio.gather(*(open_and_watch(url) for url in setup["urls"]))
    viewers = [ws for ws in opened if ws is not None]
    say({"event": "connected", "ok": len(viewers), "failed": tally.failed, "errors": tally.errors})
    window = await read_command()
    tally.start, tally.end = window["start"], window["end"]
    await asyncio.sleep(max(0.0, tally.end - time.time()) + 0.05)
    say(result(tally))
    await read_command()
    lag.cancel()
    await asyncio.wait(
        [asyncio.create_task(ws.close()) for ws in viewers]
        or [asyncio.create_task(asyncio.sleep(0))],
        timeout=5,
    )
    for watcher in watchers:
        watcher.cancel()


if __name__ == "__main__":
    asyncio.run(main())
