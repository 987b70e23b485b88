"""Every Redis key jobsvc uses, built here and nowhere else.

``scripts/_lib.lua`` has a table ``K`` that mirrors these builders for the keys
a script discovers while it runs (the task a dedupe key points to, the next
task of a lane); ``tests/test_keys.py`` checks that both agree.  Deployment
names and task ids are validated before they reach this module.

The layout's one rule: the kind comes first, and a name ends its key
(``jobsvc:laneq:<deployment>``, never ``jobsvc:lane:<deployment>:q``).  A
deployment name may contain ``:``, so anything after it would let one name
spell another lane's key.  Only a task id, which jobsvc generates as hex,
is followed by a suffix (``jobsvc:t:<id>:h``).  ``tests/test_keys.py``
proves with generated names that no two (builder, name) pairs meet.
"""

from __future__ import annotations

PREFIX = "jobsvc:"

# Global acceptance counter: orders lanes and listings (sequence, never clock).
SEQ = PREFIX + "seq"
# Deployments ever seen, lexicographic (ZSET, score 0) for cursor listing.
DEPLOYMENTS = PREFIX + "deployments"
# Deployments with an active or waiting task (SET): what the reconciler's sweep walks.
BUSY = PREFIX + "busy"
# Tasks waiting out a retry backoff (ZSET, score = due time in microseconds).
DUE = PREFIX + "due"
# Ended tasks still in their dedupe cooldown (ZSET, score = end of cooldown, µs).
COOLDOWN = PREFIX + "cooldown"
# Counters by type and by priority, per status (HASH).
COUNTS = PREFIX + "counts"
# Dashboard change feed: one entry per lane change (STREAM).
DASHBOARD = PREFIX + "dashboard"
# Where the layout before kept a newest-first index of every task (ZSET);
# today the status indexes together are that index (store.list_tasks).
ALL_TASKS = PREFIX + "idx:all"
# Set while the service drains: nothing new starts (lanes still accept tasks).
DRAIN = PREFIX + "drain"
# The task types workers offer (HASH: type name -> "<published at, µs> <JSON>"),
# written by offer_types.lua; an entry older than JOBSVC_OFFERS_TTL_S is not counted.
OFFERS = PREFIX + "offers"
# The reconciler's index: lanes that could need a repair (ZSET, score = the
# earliest time, µs of Redis' clock, at which they could; a lower bound).
CHECKS = PREFIX + "checks"
# Where the reconciler's safety sweep over BUSY goes on (STRING, an SSCAN cursor).
SWEEP = PREFIX + "sweep"
# Ended tasks whose dependents a failed dependency's cascade has yet to skip
# (LIST of task ids): one script skips a bounded number, the workers' ticker the rest.
CASCADE = PREFIX + "cascade"
# Webhook deliveries (jobsvc/webhooks): the sequence that orders them and ends
# their ids (STRING counter); those waiting to be sent or leased by a deliverer
# (ZSET, score = when to take it, µs; a lease pushes it out); ended deliveries
# by status, for metrics (HASH: delivered|failed -> count, never decreasing).
HOOK_SEQ = PREFIX + "hookseq"
HOOK_DUE = PREFIX + "hookdue"
HOOK_COUNTS = PREFIX + "hookcounts"
# What /metrics counts, in tallies that only grow (HASH, fields built by ``tally``):
# retention never decreases them, so Prometheus never reads a drop as a reset.
TALLIES = PREFIX + "tallies"
# Lanes with waiting tasks, scored by how many wait (ZSET): the deepest lane's
# count in O(log n) for /metrics.  A lane leaves it when it has nothing left.
DEPTHS = PREFIX + "depths"


def task(task_id: str) -> str:
    """The task's record (HASH)."""
    return f"{PREFIX}t:{task_id}"


def history(task_id: str) -> str:
    """Where the layout before kept a task's state transitions (LIST of JSON
    entries); today they are fields of the task's hash (scripts/_lib.lua)."""
    return f"{PREFIX}t:{task_id}:h"


def events(task_id: str) -> str:
    """Where the layout before kept a task's live events (STREAM); today they
    are in its lane's stream (``lane_events``)."""
    return f"{PREFIX}t:{task_id}:ev"


def steps(task_id: str) -> str:
    """A multi-step task's steps and saved state (HASH: ``<k>`` -> the k-th step's
    JSON, ``state`` -> ``ctx.state``'s JSON).  Only a task that uses steps or
    state has one; it goes with the task."""
    return f"{PREFIX}t:{task_id}:steps"


def lane_events(deployment: str) -> str:
    """The live events of a lane's tasks: log, progress, status, step, each
    naming its task (STREAM).  A lane runs one task at a time, so this is
    mostly the running task's; one stream per lane, not per task, because
    any stream costs 4 KB and more."""
    return f"{PREFIX}events:{deployment}"


def log(task_id: str) -> str:
    """The task's whole output (STRING, capped)."""
    return f"{PREFIX}t:{task_id}:log"


def lane(deployment: str) -> str:
    """A lane's state: active task, fence counter, paused flag, last task (HASH)."""
    return f"{PREFIX}lane:{deployment}"


def lane_queue(deployment: str) -> str:
    """Tasks waiting in a lane (ZSET, score = priority rank * 2**44 + seq)."""
    return f"{PREFIX}laneq:{deployment}"


def lease(deployment: str) -> str:
    """The running attempt's lease (STRING = fencing token, with a TTL)."""
    return f"{PREFIX}lease:{deployment}"


def by_status(status: str) -> str:
    """Newest-first index of tasks in one status (ZSET, score = seq)."""
    return f"{PREFIX}idx:status:{status}"


def by_deployment(deployment: str) -> str:
    """Newest-first index of one deployment's tasks (ZSET, score = seq)."""
    return f"{PREFIX}idx:dep:{deployment}"


def dedupe(identity: str) -> str:
    """Which task holds a dedupe identity (STRING = task id)."""
    return f"{PREFIX}dedupe:{identity}"


def waits(task_id: str) -> str:
    """The task's dependencies not yet completed (SET of task ids; absent: none).
    A task with any is never started: its lane waits for it when it is the head."""
    return f"{PREFIX}waits:{task_id}"


def dependents(task_id: str) -> str:
    """The tasks not yet ended whose ``dependsOn`` names this one (SET): released
    or skipped when it ends, and while any remain, retention keeps it."""
    return f"{PREFIX}dependents:{task_id}"


def hook(delivery_id: str) -> str:
    """One webhook delivery (HASH: event, taskId, sub, url, status, attempts, ...,
    and ``task``, the task's fields at the transition as JSON).  Its id,
    ``msg_<task id>_<seq>``, is generated, so a suffix would be safe; none is used."""
    return f"{PREFIX}hook:{delivery_id}"


def hooks_by_status(status: str) -> str:
    """Newest-first index of the deliveries in one status (ZSET, score = its seq)."""
    return f"{PREFIX}hookidx:{status}"


def fire(name: str, fire_time: int) -> str:
    """Marks one firing of a periodic job as taken, so a double fire runs once."""
    return f"{PREFIX}fire:{fire_time}:{name}"


# The kinds of ``COUNTS`` fields: tasks by type, and by priority (``_lib.lua``'s
# set_status writes both).
COUNT_BY_TYPE = "type"
COUNT_BY_PRIORITY = "priority"
# The counter bucket of queued and running tasks together (``_lib.lua``'s
# ``bucket``): a claim or a retry moves no counter.  Each ended status is a
# bucket of its own.
ACTIVE_BUCKET = "active"


def count(kind: str, bucket: str, name: str) -> str:
    """A field of ``COUNTS``: tasks of one type or priority (``kind``) in one bucket
    (an ended status, or ``ACTIVE_BUCKET``).

    The name comes last for the same reason as in keys: a type name may hold ``:``.
    """
    return f"{kind}:{bucket}:{name}"


def parse_count(field: str) -> tuple[str, str, str]:
    """(kind, bucket, name) of a ``COUNTS`` field."""
    kind, bucket, name = field.split(":", 2)
    return kind, bucket, name


# Earlier layouts put a lane's queue and lease after its name:
# ``jobsvc:lane:<d>:q`` (ZSET) and ``jobsvc:lane:<d>:lease`` (STRING), and kept
# a task's history and events in keys of its own (``history``, ``events``).  `jobsvc check` looks
# for them; the type tells them from the hash of today's lane named ``<d>:q``.
# (suffix, type) pairs:
OLD_LANE_KEYS = ((":q", "zset"), (":lease", "string"))
OLD_TASK_KEYS = ((":h", "list"), (":ev", "stream"))


# The kinds of ``TALLIES`` fields and the parts each has after its kind, the name
# (a task type, which may hold ``:``) always last, as in every key:
#   end:<status>:<bucket>:<type>   attempts ended (an ended status, or ``retried``),
#                                  by the bucket of their run time (``none``: the
#                                  task ended without a running attempt)
#   run_us:<type>                  the sum of those run times, µs
#   wait:<bucket>:<type>           tasks started for the first time, by the bucket
#                                  of their wait since acceptance
#   wait_us:<type>                 the sum of those waits, µs
#   repair:<kind>                  repairs (``policy.REPAIR_KINDS``)
# A bucket is its upper bound in µs (``policy.RUN_BUCKETS_S``, ``WAIT_BUCKETS_S``)
# or ``inf``, so a tally written under other bounds still reads right.
TALLY_PARTS = {"end": 3, "run_us": 1, "wait": 2, "wait_us": 1, "repair": 1}
# The status of an ended attempt whose task was queued again for a retry.
RETRIED = "retried"
# The bucket of a task that ended without a running attempt (skipped, canceled while queued).
NO_RUN = "none"


def tally(kind: str, *parts: str) -> str:
    """A field of ``TALLIES``: its kind, then its parts, the name last."""
    return ":".join((kind, *parts))


def parse_tally(field: str) -> tuple[str, list[str]]:
    """(kind, parts) of a ``TALLIES`` field; a kind this version does not know
    gives no parts."""
    kind, _, rest = field.partition(":")
    arity = TALLY_PARTS.get(kind)
    if arity is None:
        return kind, []
    parts = rest.split(":", arity - 1)
    return kind, parts if len(parts) == arity else []
