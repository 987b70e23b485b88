"""`jobsvc check`: what in the Redis in use could lose tasks, or predates today's keys."""

from __future__ import annotations

from .. import keys
from ..states import Status

# `jobsvc check` looks for keys of the old layout with SCAN: keys asked per
# call, and the most calls it makes (an admin command; never a request path).
LAYOUT_SCAN_COUNT = 1000
LAYOUT_SCAN_CALLS = 1000


def redis_warnings(client) -> list[str]:
    """What in the Redis configuration could lose accepted tasks."""
    try:
        config = {**client.config_get("appendonly"), **client.config_get("maxmemory-policy"),
                  **client.config_get("save")}
    except Exception as exc:  # noqa: BLE001  (managed Redis often forbids CONFIG)
        return [f"cannot read the Redis configuration ({exc}); check persistence yourself"]
    warnings = []
    if config.get("appendonly") != "yes" and not config.get("save"):
        warnings.append("persistence is off (appendonly no, no save points): "
                        "a Redis restart loses every task")
    elif config.get("appendonly") != "yes":
        warnings.append("appendonly is off: a crash loses tasks since the last snapshot")
    if config.get("maxmemory-policy") != "noeviction":
        warnings.append(f"maxmemory-policy is {config.get('maxmemory-policy')}, "
                        "not noeviction: Redis may evict task data under memory pressure")
    return warnings


def layout_warnings(client) -> list[str]:
    """One line if this Redis holds data written by jobsvc's old key layout,
    whose lane keys another lane's name could spell (see keys.py)."""
    statuses = {s.value for s in Status}
    found = _old_lane_key(client)
    if found is None and any(keys.parse_count(name)[1] not in statuses
                             for name in client.hkeys(keys.COUNTS)):
        found = f"{keys.COUNTS} fields type:<type>:<status>"
    if found is None:
        return []
    return [f"this Redis holds data of jobsvc's old key layout ({found}): let running tasks "
            "end (`jobsvc drain`), then delete the keys matching jobsvc:* and rq:* (or flush "
            "a database of jobsvc's own) and submit again"]


def _old_lane_key(client) -> str | None:
    """The first old-layout lane key a bounded SCAN finds, else None."""
    cursor = 0
    for _ in range(LAYOUT_SCAN_CALLS):
        cursor, names = client.scan(cursor, match=keys.lane("*"), count=LAYOUT_SCAN_COUNT)
        for name in names:
            if any(name.endswith(suffix) and client.type(name) == kind
                   for suffix, kind in keys.OLD_LANE_KEYS):
                return name
        if cursor == 0:
            return None
    return None
