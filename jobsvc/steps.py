"""Memoised steps and saved state of one attempt (``ctx.step``, ``ctx.state``).

A step's result is stored with its task in the same Lua step that records
its completion (``step_end.lua``), fenced by the attempt's token.  Every later
attempt re-enters the handler from the top; ``ctx.step`` then returns a
completed step's stored result without calling its function, and runs the
first step that did not complete.  Steps are matched by place, as DBOS
and Temporal do: the k-th step call of an attempt must name the k-th stored
step, so a handler whose step order changed gets ``StepMismatch`` instead of
another step's result.  A repeated name gets ``#2``, ``#3``... so loops work.

A step runs at least once: a run interrupted by a crash runs again.
"""

from __future__ import annotations

import ctypes
import json
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .policy import backoff_ms
from .redaction import Redactor

if TYPE_CHECKING:
    from .store import TaskStore

# Longest step name (it is shown in logs and events).
STEP_NAME_MAX = 200
# Most steps one task may record: its records are read in one script
# (get_tasks.lua), which Lua's stack bounds, and every later attempt reads them.
MAX_STEPS = 1000


class StepMismatch(Exception):
    """The handler's k-th step is not the k-th step an earlier attempt recorded.

    Not retried: the handler changed between attempts, and running it again
    would meet the same records.  ``jobsvc retry --from-start`` clears them.
    """


class StepTimeout(Exception):
    """One run of a step's function took longer than the step's ``timeout``."""


class AttemptLost(BaseException):
    """The attempt no longer owns its task (its lease was lost): it stops
    before doing a step's work that it could not record.  A BaseException, as
    the runner's stop signals, so ``except Exception`` in a handler lets it by."""


@dataclass(frozen=True)
class StepPolicy:
    """A step's own retry policy: runs in place after a failure, their backoff
    (seconds, doubled per retry, with jitter), and each run's timeout."""

    retries: int = 0
    timeout: float | None = None
    backoff: float | None = None


def step_name(name: Any) -> str:
    """A valid step name, or ValueError: one line (its log marker stays one
    line), without ``#`` (kept for the ``#2`` of a repeated name), at most
    STEP_NAME_MAX characters."""
    if not isinstance(name, str) or not name or len(name) > STEP_NAME_MAX:
        raise ValueError(f"a step name is a non-empty string of at most {STEP_NAME_MAX} chars")
    if "#" in name or "\n" in name or "\r" in name:
        raise ValueError(f"step name {name!r} may not hold '#' or a line break")
    return name


def step_error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def call_with_timeout(fn: Callable[[], Any], timeout: float | None) -> Any:
    """``fn()``, in a thread of its own when it has a timeout: past it, a
    StepTimeout is raised into that thread (at its next bytecode) and here."""
    if timeout is None:
        return fn()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001  (handed to the caller)
            box["exc"] = exc

    thread = threading.Thread(target=target, name="jobsvc-step", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive() and thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(StepTimeout)
        )
        raise StepTimeout(f"the step's run exceeded its timeout of {timeout}s")
    if "exc" in box:
        raise box["exc"]
    return box.get("result")


@dataclass
class AttemptSteps:
    """One attempt's view of its task's steps: the stored records, loaded once
    (not at all on a task's first attempt: it has none), and the places and
    names this attempt has reached."""

    store: TaskStore
    task_id: str
    token: str
    first_attempt: bool
    sleep: Callable[[float], None]
    # Masks the attempt's secrets in the names, results, errors and state it stores.
    redactor: Redactor = field(default_factory=Redactor)
    records: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    _loaded: bool = False
    _place: int = 0
    _seen: Counter[str] = field(default_factory=Counter)

    def load(self) -> None:
        if not self._loaded:
            if not self.first_attempt:
                self.records, self.state = self.store.load_steps(self.task_id)
            self._loaded = True

    def save_state(self) -> None:
        self.load()
        if not self.store.save_state(self.task_id, self.token, self._state_json()):
            raise AttemptLost("the attempt lost its lease; its state was not saved")

    def run(self, name: str, fn: Callable[[], Any], policy: StepPolicy) -> Any:
        """The step's result: stored if it completed before, else from running it."""
        self.load()
        name = self._unique(self.redactor.text(step_name(name)))
        if self._place == MAX_STEPS:
            raise ValueError(f"a task may record at most {MAX_STEPS} steps")
        self._place += 1
        stored = self.records[self._place - 1] if self._place <= len(self.records) else None
        if stored is not None and stored["name"] != name:
            raise StepMismatch(
                f"step {self._place} is {name!r} but an earlier attempt recorded "
                f"{stored['name']!r} there: the handler's steps changed between attempts "
                "(retry from the start to run them anew)"
            )
        if stored is not None and stored["status"] == "completed":
            return stored["result"]
        return self._run_in_place(name, fn, policy, stored["attempts"] if stored else 0)

    def _unique(self, name: str) -> str:
        self._seen[name] += 1
        n = self._seen[name]
        return name if n == 1 else f"{name}#{n}"

    def _run_in_place(self, name: str, fn: Callable[[], Any], policy: StepPolicy, runs: int) -> Any:
        """Runs the step, again after each failure while its retries last."""
        for retry in range(policy.retries + 1):
            runs += 1
            started = self.store.step_start(self.task_id, self.token, self._place, name, runs)
            if not started:
                raise AttemptLost(f"the attempt lost its lease; step {name!r} was not run")
            record = {"name": name, "attempts": runs, "startedAt": started}
            try:
                result = json.loads(json.dumps(call_with_timeout(fn, policy.timeout)))
            except Exception as exc:
                last = retry == policy.retries
                error = self.redactor.value(step_error(exc))
                self._end(record, "failed" if last else "retrying", error=error)
                if last:
                    raise
                base = self.store.settings.backoff_s if policy.backoff is None else policy.backoff
                self.sleep(backoff_ms(base, retry) / 1000)
                continue
            # Returned as stored, so every attempt sees the same (masked) value.
            result = self.redactor.value(result)
            self._end(record, "completed", result=result)
            return result
        raise AssertionError("unreachable: the last run returns or raises")

    def _end(self, record: dict[str, Any], status: str, **outcome: Any) -> None:
        ended = {**record, "status": status, **outcome}
        if not self.store.step_end(
            self.task_id, self.token, self._place, ended, self._state_json()
        ):
            raise AttemptLost(f"the attempt lost its lease; step {record['name']!r} not recorded")

    def _state_json(self) -> str:
        if not isinstance(self.state, dict):
            raise TypeError("ctx.state must stay a dict")
        return json.dumps(self.redactor.value(self.state))
