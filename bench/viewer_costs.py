"""What one relayed log line costs the web process, step by step, in µs.

    python -m bench.viewer_costs

Times the steps a viewer's thread runs for every entry (``jobsvc.live.events`` and
``jobsvc.web.sse`` as they are), single-threaded, then the same line handed
from one thread to another through a ``queue.Queue`` (what ``Hub._deliver`` ->
``_live`` does per viewer per entry), and the alternative: one JSON text and
one WebSocket frame built once per entry and written to every viewer.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from jobsvc.live.events import task_event
from jobsvc.live.hub import Subscription, id_after

ENTRY = (
    "1795572470726-0",
    {
        "type": "log",
        "at": "1795572470726171",
        "data": json.dumps({"line": "1324 1795572470.725508"}),
    },
)
ROUNDS = 20_000


def per_call_us(func: Callable[[], object], rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(rounds):
            func()
        best = min(best, time.perf_counter() - began)
    return best / rounds * 1e6


def open_server_ws() -> WSConnection:
    """A wsproto server connection after its handshake, as simple_websocket holds it."""
    server, client = WSConnection(ConnectionType.SERVER), WSConnection(ConnectionType.CLIENT)
    server.receive_data(client.send(Request(host="x", target="/ws")))
    next(server.events())
    client.receive_data(server.send(AcceptConnection()))
    return server


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected loopback TCP pair, as a viewer's socket is."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        sender = socket.create_connection(listener.getsockname())
        receiver, _ = listener.accept()
    sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sender, receiver


def handoff_us(rounds: int = 5000) -> float:
    """One entry put by one thread and taken by another that waits for it (µs, one way)."""
    forth, back = queue.Queue(), queue.Queue()

    def echo() -> None:
        for _ in range(rounds):
            back.put(forth.get())

    thread = threading.Thread(target=echo)
    thread.start()
    began = time.perf_counter()
    for _ in range(rounds):
        forth.put(ENTRY)
        back.get()
    elapsed = time.perf_counter() - began
    thread.join()
    return elapsed / rounds / 2 * 1e6


def main() -> None:
    ws = open_server_ws()
    sender, receiver = tcp_pair()
    receiver.setblocking(False)
    sub = Subscription("k")
    message = task_event(*ENTRY)
    text = json.dumps(message)
    frame = ws.send(TextMessage(data=text))

    def drain() -> None:
        try:
            while receiver.recv(1 << 20):
                pass
        except BlockingIOError:
            pass

    def send_frame() -> None:
        sender.send(frame)
        drain()

    steps = {
        "Subscription.deliver + Queue.get_nowait (same thread)": lambda: (
            sub.deliver(ENTRY),
            sub.entries.get_nowait(),
        ),
        "id_after": lambda: id_after(ENTRY[0], "1795572470725-0"),
        "live.task_event (json.loads + iso)": lambda: task_event(*ENTRY),
        "json.dumps(event)": lambda: json.dumps(message),
        "wsproto frame (simple_websocket.send)": lambda: ws.send(TextMessage(data=text)),
        "socket send + receiver drain (loopback TCP)": send_frame,
    }
    total = 0.0
    for name, func in steps.items():
        cost = per_call_us(func)
        total += cost
        print(f"{cost:8.2f} µs  {name}")
    print(f"{total:8.2f} µs  per viewer per line, single-threaded, no contention")
    print(f"{handoff_us():8.2f} µs  thread handoff through queue.Queue (one way, 2 threads idle)")
    shared = per_call_us(send_frame)
    print(f"{shared:8.2f} µs  per viewer per line with the frame built once per entry")


if __name__ == "__main__":
    main()
