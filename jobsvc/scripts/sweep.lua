-- sweep.lua: the next few busy lanes for the reconciler's safety sweep,
-- round-robin over jobsvc:busy with an SSCAN cursor kept in Redis, so
-- successive passes (from any process) go round the whole set.
--
-- The sweep checks each lane fully, whatever its check time says: it finds
-- what the index cannot (a dispatch popped by a worker that died before
-- marking it; lanes written before the index existed).
--
-- KEYS[1] jobsvc:busy   KEYS[2] the sweep's cursor (jobsvc:sweep)
-- ARGV 1 how many lanes to ask SSCAN for (a hint: it may answer a few more)
-- Returns the lanes.
local cursor = redis.call('GET', KEYS[2]) or '0'
local page = redis.call('SSCAN', KEYS[1], cursor, 'COUNT', ARGV[1])
redis.call('SET', KEYS[2], page[1])
return page[2]
