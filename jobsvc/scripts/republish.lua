-- republish.lua: hand an orphaned active task to RQ again.
--
-- The caller saw the lane's active task queued, with no live RQ job, at a
-- given dispatchedAt.  If nothing moved since (same task active, still
-- queued, same dispatchedAt, not waiting out a backoff), it is dispatched
-- again; otherwise someone else already acted and nothing happens.
--
-- KEYS[1] task hash   KEYS[2] lane hash
-- ARGV 1 id  2 dispatchedAt the caller saw ('' if none)
-- A republish is tallied as an 'orphan' repair.
-- Returns {'moved'} | {'ok', '@dispatch', id, pool, priority, timeoutS}
local tkey, lkey = KEYS[1], KEYS[2]
local id = ARGV[1]
local now = now_us()
local f = redis.call('HMGET', tkey, 'status', 'dispatchedAt', 'dueAt')
if f[1] ~= 'queued' or field(lkey, 'active') ~= id then return { 'moved' } end
if (f[2] or '') ~= ARGV[2] then return { 'moved' } end
if f[3] and tonumber(f[3]) > now then return { 'moved' } end
redis.call('ZREM', K.due, id)
repaired('orphan')
return reply('ok', dispatch_info(id, now))
