"""`jobsvc check`: what in the Redis in use could lose tasks, or predates today's keys."""

from __future__ import annotations

from .. import keys
from ..states import Status
from ..store import TaskStore

# `jobsvc check` looks for keys of the old layout with SCAN: keys asked per
# call, and the most calls it makes (an admin command; never a request path).
LAYOUT_SCAN_COUNT = 1000
LAYOUT_SCAN_CALLS = 1000


def redis_warnings(store: TaskStore) -> list[str]:
    """What in the Redis configuration could lose accepted tasks."""
    try:
        config = store.redis_config("appendonly", "maxmemory-policy", "save")
    except Exception as exc:  # noqa: BLE001  (managed Redis often forbids CONFIG)
        return [f"cannot read the Redis configuration ({exc}); check persistence yourself"]
    warnings = []
    if config.get("appendonly") != "yes" and not config.get("save"):
        warnings.append(
            "persistence is off (appendonly no, no save points): a Redis restart loses every task"
        )
    elif config.get("appendonly") != "yes":
        warnings.append("appendonly is off: a crash loses tasks since the last snapshot")
    if config.get("maxmemory-policy") != "noeviction":
        warnings.append(
            f"maxmemory-policy is {config.get('maxmemory-policy')}, "
            "not noeviction: Redis may evict task data under memory pressure"
        )
    return warnings


def layout_warnings(store: TaskStore) -> list[str]:
    """One line if this Redis holds data written by jobsvc's old key layout,
    whose lane keys another lane's name could spell (see keys.py)."""
    buckets = {s.value for s in Status if s.ended} | {keys.ACTIVE_BUCKET}
    found = keys.ALL_TASKS if store.key_exists(keys.ALL_TASKS) else _old_layout_key(store)
    if found is None and any(
        keys.parse_count(name)[1] not in buckets for name in store.count_fields()
    ):
        found = f"{keys.COUNTS} fields type:<type>:<status> or counters of queued/running"
    if found is None:
        return []
    return [
        f"this Redis holds data of jobsvc's old key layout ({found}): let running tasks "
        "end (`jobsvc drain`), then delete the keys matching jobsvc:* and rq:* (or flush "
        "a database of jobsvc's own) and submit again"
    ]


def _old_layout_key(store: TaskStore) -> str | None:
    """The first key of an old layout a bounded SCAN finds, else None."""
    old = {keys.lane(""): keys.OLD_LANE_KEYS, keys.task(""): keys.OLD_TASK_KEYS}
    return store.first_key_of_type(keys.PREFIX + "*", old, LAYOUT_SCAN_COUNT, LAYOUT_SCAN_CALLS)
