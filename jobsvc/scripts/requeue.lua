-- requeue.lua: a failed or canceled task is queued again at the back of its
-- lane (same id, retryCount kept, history appended).
--
-- KEYS[1] task hash
-- ARGV 1 id
-- Returns {'missing'} | {'invalid', status}
--       | {'queued' [, '@dispatch', id, pool, priority, timeoutS]}
local tkey = KEYS[1]
local id = ARGV[1]
local f = redis.call('HMGET', tkey, 'status', 'deployment', 'priority', 'identity')
if not f[1] then return { 'missing' } end
if f[1] ~= 'failed' and f[1] ~= 'canceled' then return { 'invalid', f[1] } end
local d = f[2]
local now = now_us()
local seq = redis.call('INCR', K.seq)
redis.call('HDEL', tkey, 'completedAt', 'cooldownUntil', 'result', 'error', 'progress',
  'startedAt', 'dueAt', 'cancelRequested', 'token', 'staleAt')
redis.call('ZREM', K.cooldown, id)
if f[4] then
  local dkey = K.dedupe(f[4])
  local holder = redis.call('GET', dkey)
  if not holder or holder == id or not holds_identity(holder, now) then
    redis.call('SET', dkey, id)
  end
end
set_status(id, 'queued', now, 'retry requested')
emit_status(id, 'queued', 'retry requested', now)
redis.call('PERSIST', K.events(id))
redis.call('ZADD', K.lane_queue(d), lane_score(f[3], seq), id)
redis.call('SADD', K.busy, d)
local dispatch = promote(d, now)
publish(d)
return reply('queued', dispatch)
