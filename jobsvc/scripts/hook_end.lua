-- hook_end.lua: one try of a webhook delivery has ended.
--
-- Refused unless the delivery is pending and its fence is the one the
-- sender's lease got (hook_take.lua); the fence then moves on, so a lease
-- ends one try only (an end sent twice, as redis-py re-sends a command whose
-- reply a timeout lost, is refused instead of counting the try again or
-- ending a redelivery it never sent).  'delivered' ends it; 'retry' counts
-- the try and makes it due after the delay, unless it was the last try
-- allowed, which ends it 'failed'; 'failed' ends it at once (its
-- subscription is no longer configured).  An ended delivery leaves the due
-- set and moves to its status index, and its status's counter grows.
--
-- KEYS[1] the delivery's hash
-- ARGV 1 id  2 fence  3 outcome ('delivered'|'retry'|'failed')  4 HTTP status ('' none)
--      5 error text ('' none)  6 retry delay in ms  7 most tries
-- Returns {'stale'} | {'delivered'} | {'retry', due µs} | {'failed'}
local hkey, id, outcome = KEYS[1], ARGV[1], ARGV[3]
local h = redis.call('HMGET', hkey, 'status', 'fence', 'attempts', 'seq')
if h[1] ~= 'pending' or h[2] ~= ARGV[2] then return { 'stale' } end
redis.call('HINCRBY', hkey, 'fence', 1)
local now = now_us()
local attempts = tonumber(h[3]) + 1
redis.call('HSET', hkey, 'attempts', attempts)
if ARGV[4] ~= '' then
  redis.call('HSET', hkey, 'lastStatusCode', ARGV[4])
else
  redis.call('HDEL', hkey, 'lastStatusCode')
end
if ARGV[5] ~= '' then
  redis.call('HSET', hkey, 'lastError', ARGV[5])
else
  redis.call('HDEL', hkey, 'lastError')
end

if outcome == 'retry' and attempts < tonumber(ARGV[7]) then
  local due = int(now + tonumber(ARGV[6]) * 1000)
  redis.call('ZADD', K.hook_due, due, id)
  return { 'retry', due }
end
local status = 'failed'
if outcome == 'delivered' then
  status = 'delivered'
  redis.call('HSET', hkey, 'deliveredAt', int(now))
end
redis.call('HSET', hkey, 'status', status, 'endedAt', int(now))
redis.call('ZREM', K.hook_due, id)
redis.call('ZREM', K.hooks_by_status('pending'), id)
redis.call('ZADD', K.hooks_by_status(status), h[4], id)
redis.call('HINCRBY', K.hook_counts, status, 1)
return { status }
