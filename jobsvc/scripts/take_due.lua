-- take_due.lua: tasks whose retry backoff is over are handed back to RQ.
--
-- Many workers run this; ZREM inside the script makes each task go to one.
--
-- KEYS[1] jobsvc:due
-- ARGV 1 how many at most
-- Returns a flat list of dispatch infos: id, pool, priority, timeoutS, ...
local due = KEYS[1]
if redis.call('EXISTS', K.drain) == 1 then return {} end
local now = now_us()
local ids = redis.call('ZRANGEBYSCORE', due, '-inf', int(now), 'LIMIT', 0, ARGV[1])
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', due, id)
  local f = redis.call('HMGET', K.task(id), 'status', 'deployment')
  if f[1] == 'queued' and field(K.lane(f[2]), 'active') == id then
    for _, v in ipairs(dispatch_info(id, now)) do out[#out + 1] = v end
  end
end
return out
