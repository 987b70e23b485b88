-- take_due.lua: tasks whose retry backoff is over are handed back to RQ.
--
-- Many workers run this; ZREM inside the script makes each task go to one.
-- A task whose data (or whose lane's) cannot be read leaves the due set with
-- a line in the Redis log, and the others go on; its lane is reported by
-- every reconcile pass.
--
-- It also goes on with a failed dependency's cascade that one script left
-- unfinished (K.cascade: _lib.lua's cascade_skips), a bounded part per call.
--
-- KEYS[1] jobsvc:due
-- ARGV 1 how many at most
-- Returns a flat list of dispatch infos: id, pool, priority, timeoutS, ...

-- The dispatch info of a task still due, or an empty table.
local function take(id, now)
  local f = redis.call('HMGET', K.task(id), 'status', 'deployment')
  if f[1] == 'queued' and field(K.lane(f[2]), 'active') == id then
    return dispatch_info(id, now)
  end
  return {}
end

local due = KEYS[1]
local now = now_us()
local skipped = {}
local left = redis.call('LPOP', K.cascade)
if left then skipped = cascade_skips({ left }, now) end
if redis.call('EXISTS', K.drain) == 1 then return skipped end
local ids = redis.call('ZRANGEBYSCORE', due, '-inf', int(now), 'LIMIT', 0, ARGV[1])
local out = skipped
for _, id in ipairs(ids) do
  redis.call('ZREM', due, id)
  local ok, info = pcall(take, id, now)
  if not ok then
    redis.log(redis.LOG_WARNING, 'jobsvc take_due: task ' .. id .. ' skipped: ' .. error_text(info))
    info = {}
  end
  for _, v in ipairs(info) do out[#out + 1] = v end
end
return out
