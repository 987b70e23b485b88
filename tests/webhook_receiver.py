"""A real HTTP receiver for webhook tests: a threaded server on a loopback port
that records every request and answers as the test tells it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jobsvc.processes.redis_server import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    # When it came (epoch seconds): a signature's timestamp is checked against it.
    at: float = field(default_factory=time.time)
    # The status it was answered with, once answered (None: the answer could not be sent).
    status: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# How the receiver answers its n-th request (from 1): a status, after a delay.
Answer = Callable[[int], tuple[int, float]]


@dataclass
class Receiver:
    url: str
    answer: Answer
    requests: list[Received] = field(default_factory=list)
    # Requests answered so far (a held or slow one counts once it is answered).
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set to let held requests go (see ``hold``).
    release: threading.Event = field(default_factory=threading.Event)

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)


def always(status: int) -> Answer:
    return lambda n: (status, 0.0)


def first_then(first: list[tuple[int, float]], then: int = 200) -> Answer:
    """The listed answers for the first requests, then ``then`` at once."""
    return lambda n: first[n - 1] if n <= len(first) else (then, 0.0)


HOLD = -1.0  # a delay that means: answer only once ``release`` is set


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = Received({k.lower(): v for k, v in self.headers.items()}, body, self.path)
            with receiver.lock:
                receiver.requests.append(request)
                n = len(receiver.requests)
            status, delay = receiver.answer(n)
            if delay == HOLD:
                receiver.release.wait(120)
            elif delay:
                time.sleep(delay)
            sent: int | None = None
            try:
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                sent = status
            except OSError:
                pass  # the sender gave up waiting
            with receiver.lock:
                request.status = sent
                receiver.answered += 1

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def receiving(answer: Answer, port: int | None = None) -> Iterator[Receiver]:
    """A receiver on a loopback port (a given one, e.g. to come back on after a stop)."""
    port = port or free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/hook", answer)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
