"""keys.py and the K table of scripts/_lib.lua must name the same keys."""

from __future__ import annotations

import redis

from jobsvc import keys
from jobsvc.scripts import source
from jobsvc.settings import Settings

PROBE = """
return { K.task('T'), K.history('T'), K.events('T'), K.log('T'), K.lane('D'),
  K.lane_queue('D'), K.lease('D'), K.by_status('S'), K.by_deployment('D'), K.dedupe('I'),
  K.seq, K.deployments, K.busy, K.due, K.cooldown, K.counts, K.dashboard, K.all, K.drain }
"""


def test_lua_key_table_mirrors_keys_module(redis_url):
    lib = source("promote", Settings()).split("-- promote.lua")[0]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    from_lua = client.eval(lib + PROBE, 0)
    assert from_lua == [
        keys.task("T"), keys.history("T"), keys.events("T"), keys.log("T"), keys.lane("D"),
        keys.lane_queue("D"), keys.lease("D"), keys.by_status("S"), keys.by_deployment("D"),
        keys.dedupe("I"), keys.SEQ, keys.DEPLOYMENTS, keys.BUSY, keys.DUE, keys.COOLDOWN,
        keys.COUNTS, keys.DASHBOARD, keys.ALL_TASKS, keys.DRAIN,
    ]
