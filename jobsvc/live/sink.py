"""One WebSocket viewer's outgoing bytes, written by whoever has them, in order.

The hub writes task events straight to a viewer's socket (see ``hub``), and
simple-websocket writes its own frames (pong, ping, close) from its reader
thread.  Both go through one ``SocketSink``: a lock and a backlog, so frames
never interleave and no writer ever blocks on a slow viewer.  A viewer whose
backlog passes ``BACKLOG_MAX`` is marked overflowed and closed by its own
thread, which can then tell it where to resume.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any

# Bytes a viewer may lag behind before it counts as too slow.
BACKLOG_MAX = 1 << 20
# How long a blocking flush (catch-up, the last frames) waits on a stuck viewer, in seconds.
FLUSH_TIMEOUT_S = 30.0


class SocketSink:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._lock = threading.Lock()
        self._backlog = bytearray()
        self.done = threading.Event()
        self.ended = self.overflowed = self.failed = self.stopped = False

    def write(self, data: bytes, ended: bool = False) -> None:
        """Queues bytes and sends what the socket takes now (the hub's path)."""
        with self._lock:
            if self.failed:
                return
            self._backlog += data
            self._flush()
            if len(self._backlog) > BACKLOG_MAX:
                self.overflowed = True
                self.done.set()
            if ended:
                self.ended = True
                self.done.set()

    def stop(self) -> None:
        """The process is shutting down: the viewer's thread stops waiting and closes."""
        self.stopped = True
        self.done.set()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def drain(self, timeout: float = FLUSH_TIMEOUT_S) -> bool:
        """Blocks until the backlog is sent (the viewer's own pace); False if it could not be."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._flush()
                if self.failed or not self._backlog:
                    return not self.failed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            select.select([], [self.sock], [], min(remaining, 1.0))

    def _flush(self) -> None:
        while self._backlog:
            try:
                sent = self.sock.send(self._backlog, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.failed = True
                self._backlog.clear()
                self.done.set()
                return
            del self._backlog[:sent]


class SinkSocket:
    """Stands in for a simple-websocket connection's socket: its writes join the sink."""

    def __init__(self, sink: SocketSink):
        self._sink = sink
        self._sock = sink.sock

    def send(self, data: bytes) -> int:
        self._sink.write(bytes(data))
        return len(data)

    def sendall(self, data: bytes) -> None:
        self._sink.write(bytes(data))

    def drain(self) -> bool:
        return self._sink.drain()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def attach(ws: Any) -> SocketSink:
    """Routes every later write of a flask-sock connection through one sink."""
    sink = SocketSink(ws.sock)
    ws.sock = SinkSocket(sink)
    return sink
