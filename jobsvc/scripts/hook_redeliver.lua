-- hook_redeliver.lua: a delivered or failed webhook delivery is queued again.
--
-- It keeps its id (the receiver's webhook-id) and its body; its tries count
-- from 0 again (the last try's status code and error stay until the next
-- try); it is due now.  A pending delivery is refused: it is queued already.
--
-- KEYS[1] the delivery's hash
-- ARGV 1 id
-- Returns {'missing'} | {'pending'} | {'ok'}
local hkey, id = KEYS[1], ARGV[1]
local h = redis.call('HMGET', hkey, 'status', 'seq')
if not h[1] then return { 'missing' } end
if h[1] == 'pending' then return { 'pending' } end
redis.call('HSET', hkey, 'status', 'pending', 'attempts', 0)
redis.call('HDEL', hkey, 'deliveredAt', 'endedAt')
redis.call('ZREM', K.hooks_by_status(h[1]), id)
redis.call('ZADD', K.hooks_by_status('pending'), h[2], id)
redis.call('ZADD', K.hook_due, int(now_us()), id)
return { 'ok' }
