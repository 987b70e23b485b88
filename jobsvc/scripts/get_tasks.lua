-- get_tasks.lua: read tasks with their history and lane position in one trip.
--
-- KEYS: none fixed (read only; task keys are derived from the ids)
-- ARGV the task ids
-- Returns one entry per id: {} if missing, else {flat HGETALL, history list, position}
-- where position is -1 for an ended task.
local out = {}
for i, id in ipairs(ARGV) do
  local h = redis.call('HGETALL', K.task(id))
  if #h == 0 then
    out[i] = {}
  else
    local f = redis.call('HMGET', K.task(id), 'status', 'deployment')
    local pos = -1
    if not ENDED[f[1]] then
      if field(K.lane(f[2]), 'active') == id then
        pos = 0
      else
        local r = redis.call('ZRANK', K.lane_queue(f[2]), id)
        if r then pos = r + 1 end
      end
    end
    out[i] = { h, redis.call('LRANGE', K.history(id), 0, -1), pos }
  end
end
return out
