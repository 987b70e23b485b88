"""What a handler sees of its attempt: ``ctx`` (output, progress, steps, state,
secrets, stop requests) and the exceptions that stop it.

``runner.Attempt`` builds a ``Context`` per attempt and supervises the handler;
every write a context makes carries the attempt's token, and everything it
hands to the store passes the attempt's ``Redactor`` first.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .redaction import Redactor
from .settings import LOG_LINE_MAX_BYTES
from .steps import AttemptSteps, StepPolicy
from .store import TaskStore


class TaskStop(BaseException):
    """Raised into a handler asked to stop; BaseException so ``except Exception`` lets it by."""


class TaskCanceled(TaskStop):
    pass


class TaskTimeout(TaskStop):
    pass


def cap_line(line: str, limit: int = LOG_LINE_MAX_BYTES, redactor: Redactor | None = None) -> str:
    """The line, or its first ``limit`` bytes (UTF-8) and a marker saying it was cut.

    One huge line would otherwise pass the log's cap (checked before each
    append) by its whole size and travel whole to every live viewer.  The
    line comes redacted; a cut one also has a fragment at its new end that
    begins a secret masked (``Redactor.cut_end``): its rest is dropped.
    """
    if len(line) * 4 <= limit:  # cannot be over: no character takes more than 4 bytes
        return line
    data = line.encode("utf-8", "replace")
    if len(data) <= limit:
        return line
    kept = data[:limit].decode("utf-8", "ignore")
    if redactor is not None:
        kept = redactor.cut_end(kept)
    return kept + f"… [line truncated at {limit} bytes]"


@dataclass
class Context:
    """What a handler gets besides its payload."""

    task_id: str
    deployment: str
    payload: dict[str, Any]
    attempt: int
    _store: TaskStore
    _token: str
    stopping: threading.Event = field(default_factory=threading.Event)
    _on_stop: list[Any] = field(default_factory=list)
    _steps: AttemptSteps | None = None
    # The attempt's secret values (task_secrets.py), cleared when the attempt
    # ends; the handler reads them through ``secrets``, a read-only view.
    _secret_values: dict[str, str] = field(default_factory=dict)
    # Masks those values in everything this attempt hands to the store.  Kept
    # after the attempt (a stopped handler's late writes are masked too, then
    # refused), and dropped with the context.
    _redactor: Redactor = field(default_factory=Redactor)

    @property
    def secrets(self) -> Mapping[str, str]:
        """The secrets the task type declared, by name (read-only; empty once the attempt ended)."""
        return MappingProxyType(self._secret_values)

    def open_secrets(self, values: dict[str, str]) -> None:
        """Gives the attempt its secret values, and masks them from now on."""
        self._secret_values.update(values)
        self._redactor = Redactor(values.values())

    def close_secrets(self) -> None:
        """The attempt ended: its handler no longer sees the values."""
        self._secret_values.clear()

    def log(self, *lines: str) -> None:
        """Appends output lines; each reaches the task's log and its live viewers,
        redacted, then capped (so a cut cannot leave part of a secret)."""
        redactor = self._redactor
        text = [
            cap_line(redactor.text(str(line).rstrip("\n")), redactor=redactor) for line in lines
        ]
        if text and not self._store.output(self.task_id, self._token, "log", text):
            self.stopping.set()

    def progress(self, percent: float, message: str = "") -> None:
        if not 0 <= percent <= 100:
            raise ValueError("percent must be between 0 and 100")
        data = json.dumps(self._redactor.value({"percent": percent, "message": message}))
        self._store.output(self.task_id, self._token, "progress", [data])

    def heartbeat(self) -> None:
        """Proof of progress without output: keeps a quiet task from counting as stalled."""
        self._store.output(self.task_id, self._token, "beat", ["{}"])

    def step(
        self,
        name: str,
        fn: Any,
        *args: Any,
        retries: int = 0,
        timeout: float | None = None,
        backoff: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Runs ``fn(*args, **kwargs)`` as the named step and returns its result
        (JSON-decoded); a step completed by an earlier attempt returns its stored
        result without running again.  A failure is retried in place up to
        ``retries`` times (``backoff`` seconds, doubling; ``timeout`` per run),
        then raised, and the task's own retry policy applies."""
        policy = StepPolicy(retries, timeout, backoff)
        return self._attempt_steps().run(name, lambda: fn(*args, **kwargs), policy)

    @property
    def state(self) -> dict[str, Any]:
        """A JSON dict kept across attempts: saved at every step's end and by
        ``save_state()``; an attempt starts with the last saved value."""
        steps = self._attempt_steps()
        steps.load()
        return steps.state

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        steps = self._attempt_steps()
        steps.load()
        steps.state = value

    def save_state(self) -> None:
        """Saves ``ctx.state`` now (it is also saved at every step's end)."""
        self._attempt_steps().save_state()

    def _attempt_steps(self) -> AttemptSteps:
        if self._steps is None:
            self._steps = AttemptSteps(
                self._store,
                self.task_id,
                self._token,
                self.attempt == 1,
                self.sleep,
                redactor=self._redactor,
            )
        return self._steps

    def sleep(self, seconds: float) -> None:
        """Sleeps, but wakes at once when the attempt is asked to stop."""
        if self.stopping.wait(seconds):
            raise TaskStop("the attempt was asked to stop")

    def on_stop(self, callback: Any) -> None:
        """Registers a callable run when the attempt is asked to stop (e.g. kill a child)."""
        self._on_stop.append(callback)
