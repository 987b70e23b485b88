-- flag_stale.lua: retention's first phase: an ended task past any cooldown
-- is flagged stale, so a later run of retention may delete it.
--
-- The caller read the task as ended a moment ago; if it was requeued since,
-- or is still in its cooldown, nothing is written.  A task flagged before
-- keeps its first flag, so a run that comes twice never restarts the wait.
--
-- KEYS[1] task hash
-- ARGV 1 the time to flag with (µs of Redis' clock, as the caller judged the age)
-- Returns the task's staleAt, or 0 if it is not to be flagged.
local tkey = KEYS[1]
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', tkey, 'status', 'cooldownUntil', 'staleAt')
if not f[1] or not ENDED[f[1]] then return 0 end
if f[3] then return tonumber(f[3]) end
if f[2] and tonumber(f[2]) > now then return 0 end
redis.call('HSET', tkey, 'staleAt', int(now))
return now
