"""The key layout: no name can reach another's keys, and Lua's K mirrors keys.py.

A deployment name may contain ``:`` (``app:prod``), so a layout that puts
anything after a client-supplied name lets one name spell another lane's key
(``jobsvc:lane:x:q`` was both lane ``x``'s queue and lane ``x:q``'s hash).
The property tests generate names the contract accepts, many of them ending
in a suffix some key uses, and check that every key built from them is built
from exactly one (builder, name).
"""

from __future__ import annotations

import re

import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from rq import Queue

from jobsvc import keys
from jobsvc.dispatch import MAINTENANCE_QUEUE, POOL_RE, PRIORITIES, queue_name
from jobsvc.scripts import source
from jobsvc.settings import Settings
from jobsvc.states import Priority, Status
from jobsvc.validation import DEPLOYMENT_RE, TASK_ID_RE

PROBE = """
return { K.task('T'), K.history('T'), K.events('T'), K.log('T'), K.steps('T'), K.lane('D'),
  K.lane_queue('D'), K.lease('D'), K.lane_events('D'), K.by_status('S'), K.by_deployment('D'),
  K.dedupe('I'),
  K.count('type', 'S', 'N'), K.count('priority', 'S', 'N'),
  K.seq, K.deployments, K.busy, K.due, K.cooldown, K.counts, K.dashboard, K.all, K.drain,
  K.checks, K.sweep }
"""

STATUSES = [s.value for s in Status]
# Every suffix any key, field or queue name has put after a name, in this
# layout or an earlier one, and the words that start a kind.
SUFFIXES = [
    ":q",
    ":lease",
    ":h",
    ":ev",
    ":log",
    ":steps",
    ":intermediate",
    *(":" + s for s in STATUSES),
    *("-" + p for p in PRIORITIES),
]
KIND_WORDS = [
    "lane",
    "laneq",
    "lease",
    "idx",
    "dep",
    "status",
    "t",
    "dedupe",
    "events",
    "fire",
    "type",
    "priority",
    "q",
    *STATUSES,
]


def names_like(pattern: re.Pattern[str], max_bases: int = 3) -> st.SearchStrategy[set[str]]:
    """Sets of names that fully match ``pattern``: a few generated ones, each
    also with every suffix appended and after every kind's word, so that a
    name and the names that would spell its keys are drawn together."""
    base = st.from_regex(pattern, fullmatch=True)

    def related(bases: list[str]) -> set[str]:
        names = set(bases) | set(KIND_WORDS)
        for b in bases:
            names.update(b + suffix for suffix in SUFFIXES)
            names.update(word + sep + b for word in KIND_WORDS for sep in (":", "-", "."))
        return {n for n in names if pattern.fullmatch(n)}

    return st.lists(base, min_size=1, max_size=max_bases).map(related)


DEPLOYMENTS = names_like(DEPLOYMENT_RE)
TASK_IDS = st.from_regex(TASK_ID_RE, fullmatch=True)
IDENTITIES = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
FIXED = [
    keys.SEQ,
    keys.DEPLOYMENTS,
    keys.BUSY,
    keys.DUE,
    keys.COOLDOWN,
    keys.COUNTS,
    keys.DASHBOARD,
    keys.ALL_TASKS,
    keys.DRAIN,
    keys.CHECKS,
    keys.SWEEP,
]
# The dependencies' keys, probed apart from the rest (DEPENDENCY_PROBE).
DEPENDENCY_PROBE = "return { K.waits('T'), K.dependents('T'), K.cascade }"
DEPENDENCY_FIXED = [keys.CASCADE]
# The webhook deliveries' fixed keys, probed apart too (WEBHOOK_PROBE).
WEBHOOK_FIXED = [keys.HOOK_SEQ, keys.HOOK_DUE, keys.HOOK_COUNTS]


def assert_one_origin(built: list[tuple[str, object, str]]) -> None:
    """Each key comes from one (builder, argument) pair, and is no fixed key."""
    origin: dict[str, tuple[str, object]] = {}
    for builder, arg, key in built:
        seen = origin.setdefault(key, (builder, arg))
        assert seen == (builder, arg), f"{key!r} is both {seen} and {(builder, arg)}"
        fixed = FIXED + DEPENDENCY_FIXED + WEBHOOK_FIXED
        assert key not in fixed, f"{builder}({arg!r}) is the fixed key {key!r}"


@settings(max_examples=300, deadline=None)
@given(
    deployments=DEPLOYMENTS,
    task_ids=st.sets(TASK_IDS, max_size=4),
    identities=st.sets(IDENTITIES, max_size=2),
    fires=st.sets(st.tuples(st.text(min_size=1, max_size=20), st.integers(0, 10**9)), max_size=3),
)
def test_keys_built_from_distinct_names_are_distinct(deployments, task_ids, identities, fires):
    built = [
        (b.__name__, d, b(d))
        for d in deployments
        for b in (keys.lane, keys.lane_queue, keys.lease, keys.lane_events, keys.by_deployment)
    ]
    built += [
        (b.__name__, t, b(t))
        for t in task_ids
        for b in (keys.task, keys.history, keys.events, keys.log, keys.steps)
    ]
    built += [("by_status", s, keys.by_status(s)) for s in STATUSES]
    built += [("dedupe", i, keys.dedupe(i)) for i in identities]
    built += [("fire", f, keys.fire(*f)) for f in fires]
    built += [(b.__name__, t, b(t)) for t in task_ids for b in (keys.waits, keys.dependents)]
    built += [("hook", t, keys.hook(f"msg_{t}_1")) for t in task_ids]
    built += [("hooks_by_status", s, keys.hooks_by_status(s)) for s in STATUSES]
    assert_one_origin(built)


@settings(max_examples=300, deadline=None)
@given(
    types=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=3).map(
        lambda ts: {t + suffix for t in ts for suffix in ["", *SUFFIXES]}
    )
)
def test_count_fields_of_distinct_names_are_distinct(types):
    """``jobsvc:counts`` fields: a type name (any text) never reaches another's counter."""
    built = [("type", (t, s), keys.count("type", s, t)) for t in types for s in STATUSES]
    built += [
        ("priority", (p.value, s), keys.count("priority", s, p.value))
        for p in Priority
        for s in STATUSES
    ]
    assert_one_origin(built)
    for _, (name, status), field in built:
        assert keys.parse_count(field)[1:] == (status, name)


@settings(max_examples=300, deadline=None)
@given(pools=names_like(POOL_RE))
def test_rq_keys_of_distinct_pools_are_distinct(pools):
    """RQ builds ``rq:queue:<name>`` and ``rq:queue:<name>:intermediate`` from each
    queue name: no pool's queue may spell another's, nor the maintenance queue."""
    connection = redis.Redis()  # never connects: only key names are built
    built = [("queue", MAINTENANCE_QUEUE, Queue(MAINTENANCE_QUEUE, connection=connection))]
    built += [
        ("queue", (pool, p), Queue(queue_name(pool, p), connection=connection))
        for pool in pools
        for p in PRIORITIES
    ]
    keyed = [(b, arg, q.key) for b, arg, q in built]
    keyed += [("intermediate", arg, q.intermediate_queue_key) for _, arg, q in built]
    assert_one_origin(keyed)


def test_lua_key_table_mirrors_keys_module(redis_url):
    lib = source("promote", Settings()).split("-- promote.lua")[0]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    from_lua = client.eval(lib + PROBE, 0)
    assert from_lua == [
        keys.task("T"),
        keys.history("T"),
        keys.events("T"),
        keys.log("T"),
        keys.steps("T"),
        keys.lane("D"),
        keys.lane_queue("D"),
        keys.lease("D"),
        keys.lane_events("D"),
        keys.by_status("S"),
        keys.by_deployment("D"),
        keys.dedupe("I"),
        keys.count("type", "S", "N"),
        keys.count("priority", "S", "N"),
        *FIXED,
    ]


WEBHOOK_PROBE = (
    "return { K.hook('I'), K.hooks_by_status('S'), K.hook_seq, K.hook_due, K.hook_counts }"
)


def test_lua_webhook_keys_mirror_keys_module(redis_url):
    lib = source("promote", Settings()).split("-- promote.lua")[0]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.eval(lib + WEBHOOK_PROBE, 0) == [
        keys.hook("I"),
        keys.hooks_by_status("S"),
        *WEBHOOK_FIXED,
    ]


def test_lua_dependency_keys_mirror_keys_module(redis_url):
    lib = source("promote", Settings()).split("-- promote.lua")[0]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.eval(lib + DEPENDENCY_PROBE, 0) == [
        keys.waits("T"),
        keys.dependents("T"),
        *DEPENDENCY_FIXED,
    ]


# What /metrics reads, probed apart from the rest (as the dependencies' keys are).
METRICS_PROBE = (
    "return { K.tallies, K.depths, K.tally('end', 'S', 'B', 'N'), K.tally('repair', 'K') }"
)


def test_lua_metrics_keys_mirror_keys_module(redis_url):
    lib = source("promote", Settings()).split("-- promote.lua")[0]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.eval(lib + METRICS_PROBE, 0) == [
        keys.TALLIES,
        keys.DEPTHS,
        keys.tally("end", "S", "B", "N"),
        keys.tally("repair", "K"),
    ]
    assert {keys.TALLIES, keys.DEPTHS}.isdisjoint(FIXED + DEPENDENCY_FIXED)


@settings(max_examples=300, deadline=None)
@given(
    types=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=3).map(
        lambda ts: {t + suffix for t in ts for suffix in ["", *SUFFIXES, ":inf", ":none"]}
    )
)
def test_tally_fields_of_distinct_names_are_distinct(types):
    """``jobsvc:tallies`` fields: a type name (any text) never reaches another's tally,
    and each field reads back as what built it."""
    built = [
        ("end", (t, s, b), keys.tally("end", s, b, t))
        for t in types
        for s in [*STATUSES, keys.RETRIED]
        for b in ("100000", "inf", keys.NO_RUN)
    ]
    built += [("wait", (t, b), keys.tally("wait", b, t)) for t in types for b in ("5000", "inf")]
    built += [(kind, t, keys.tally(kind, t)) for t in types for kind in ("run_us", "wait_us")]
    built += [("repair", k, keys.tally("repair", k)) for k in ("orphan", "stalled")]
    assert_one_origin(built)
    for kind, _, field in built:
        parsed_kind, parts = keys.parse_tally(field)
        assert parsed_kind == kind and keys.tally(kind, *parts) == field
