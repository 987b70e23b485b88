-- hook_take.lua: a deliverer leases the webhook deliveries that are due.
--
-- Each one taken is pushed out in K.hook_due by the lease (a deliverer that
-- dies mid-send leaves it there: it is due again when the lease runs out) and
-- gets a new fence, which its end must carry (hook_end.lua): a sender whose
-- lease ran out and whose delivery another took cannot end it.  An entry
-- whose delivery is gone or no longer pending (deleted meanwhile) is dropped.
--
-- KEYS[1] K.hook_due
-- ARGV 1 most to take  2 lease in ms
-- Returns {next due (µs; '' if none), n, then n times: id, fence, event,
--          taskId, sub, attempts, createdAt, task snapshot JSON}
local due = KEYS[1]
local now = now_us()
local out = {}
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', int(now), 'LIMIT', 0, ARGV[1])) do
  local hkey = K.hook(id)
  local h = redis.call('HMGET', hkey, 'status', 'event', 'taskId', 'sub', 'attempts', 'createdAt',
    'task')
  if h[1] ~= 'pending' then
    redis.call('ZREM', due, id)
  else
    local fence = redis.call('HINCRBY', hkey, 'fence', 1)
    redis.call('ZADD', due, int(now + tonumber(ARGV[2]) * 1000), id)
    extend(out, { id, fence, h[2], h[3], h[4], h[5], h[6], h[7] })
    n = n + 1
  end
end
local first = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
return extend({ first[2] or '', n }, out)
