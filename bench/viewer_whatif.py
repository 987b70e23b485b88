"""What-if for ``bench/viewers.py --whatif``: live lines written by the hub, not by viewer threads.

A gunicorn config: jobsvc's own settings plus a ``post_fork`` hook that patches
the web worker from outside (nothing under ``jobsvc/`` changes):

- ``Hub._deliver`` renders each entry ONCE (event JSON and WebSocket frame)
  and, for every viewer that is live, writes the joined frames of one
  ``XREAD`` round straight to the viewer's socket (non-blocking; a backlog
  past ``BACKLOG_MAX`` marks the viewer too slow);
- ``live._live``, for a WebSocket without extensions, hands its socket to the
  hub after catch-up (under the hub lock, so nothing is sent twice or out
  of order) and then only waits for the end, instead of waking per line.

So a line costs one thread wake-up per XREAD round in total, not one per
viewer.  This is a measurement aid, not the fix itself: it ignores the
(rare) interleaving of a partial write with a ping from simple_websocket's
reader thread, which a real implementation would serialise.

``JOBSVC_WHATIF_COALESCE_MS=20`` adds a second change: after an XREAD that
returned entries the hub waits that long before the next one, so one round
carries the lines of many streams instead of about one.
"""

from __future__ import annotations

import json
import os
import socket
import threading

from jobsvc.gunicorn_conf import *  # noqa: F403  (the same server, plus the hook below)

# Bytes a viewer's socket may lag behind before it counts as too slow.
BACKLOG_MAX = 1 << 20
# Optional second change: the hub waits this long after a read that returned
# entries, so one XREAD carries more lines (0: as jobsvc does now).
COALESCE_S = float(os.environ.get("JOBSVC_WHATIF_COALESCE_MS", "0")) / 1000
_local = threading.local()


def frame(text: str) -> bytes:
    """A final, unmasked server text frame (RFC 6455 5.2)."""
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 1 << 16:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + data
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + data


class Sink:
    """A live viewer's socket as the hub writes to it."""

    def __init__(self, sock: socket.socket):
        self.sock, self.backlog = sock, b""
        self.done, self.overflowed = threading.Event(), False

    def write(self, data: bytes, terminal: bool) -> None:
        if self.done.is_set():
            return
        buf = self.backlog + data
        try:
            sent = self.sock.send(buf, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.done.set()
            return
        self.backlog = buf[sent:]
        if len(self.backlog) > BACKLOG_MAX:
            self.overflowed = True
        if terminal or self.overflowed:
            self.done.set()


def install() -> None:
    from jobsvc import hub, live
    from jobsvc.web import live as web_live

    def render(entries: list) -> tuple[bytes, bool]:
        frames, terminal = [], False
        for entry in entries:
            event = live.task_event(*entry)
            frames.append(frame(json.dumps(event)))
            if live.is_terminal(event):
                terminal = True
                break
        return b"".join(frames), terminal

    def deliver(self, key: str, entries: list) -> None:
        with self._lock:
            if key not in self._positions:
                return
            self._positions[key] = entries[-1][0]
            subs = self._subs.get(key, ())
            sinks = [s.sink for s in subs if getattr(s, "sink", None)]
            if sinks:
                data, terminal = render(entries)
                for sink in sinks:
                    sink.write(data, terminal)
            for sub in subs:
                if getattr(sub, "sink", None) is None:
                    for entry in entries:
                        sub.deliver(entry)

    original_live, original_relay = live._live, web_live.relay_ws

    def relay_ws(ws, messages):
        _local.ws = ws
        try:
            original_relay(ws, messages)
        finally:
            _local.ws = None

    def direct_live(sub, last, keepalive):
        ws = getattr(_local, "ws", None)
        if ws is None or not sub.key.endswith(":ev") or ws.ws.connection._proto.extensions:
            yield from original_live(sub, last, keepalive)
            return
        the_hub = web_live.get_relay().hub
        with the_hub._lock:
            while not sub.entries.empty():
                entry = sub.entries.get_nowait()
                if hub.id_after(entry[0], last):
                    last = entry[0]
                    event = live.task_event(*entry)
                    ws.sock.sendall(frame(json.dumps(event)))
                    if live.is_terminal(event):
                        return
            sub.sink = Sink(ws.sock)
        while not sub.sink.done.wait(keepalive):
            if not ws.connected:
                return
        if sub.sink.overflowed:
            raise live.ViewerTooSlow(last)
        if sub.sink.backlog:
            ws.sock.sendall(sub.sink.backlog)

    original_run = hub.Hub._run

    def run(self) -> None:
        """Hub._run as it is, but a read that follows a fruitful one waits COALESCE_S first."""
        read, fruitful = self.client.xread, [False]

        def xread(*args, **kwargs):
            if fruitful[0]:
                self._stopped.wait(COALESCE_S)
            reply = read(*args, **kwargs)
            fruitful[0] = bool(reply)
            return reply

        self.client.xread = xread
        original_run(self)

    hub.Hub._deliver = deliver
    if COALESCE_S:
        hub.Hub._run = run
    live._live = direct_live
    web_live.relay_ws = relay_ws


def post_fork(server, worker) -> None:  # noqa: ARG001  (gunicorn's hook signature)
    install()
