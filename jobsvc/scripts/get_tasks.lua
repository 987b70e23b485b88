-- get_tasks.lua: read tasks with their history and lane position in one trip.
-- A task whose data (or whose lane's) cannot be read does not stop the
-- others: its entry is the error text alone.
--
-- KEYS: none fixed (read only; task keys are derived from the ids)
-- ARGV the task ids
-- Returns one entry per id: {} if missing, {error text} if unreadable,
-- else {flat HGETALL, history list, position} where position is -1 for an ended task.
local function position(id, status, d)
  if ENDED[status] then return -1 end
  if field(K.lane(d), 'active') == id then return 0 end
  local r = redis.call('ZRANK', K.lane_queue(d), id)
  if r then return r + 1 end
  return -1
end

local function read(id)
  local h = redis.call('HGETALL', K.task(id))
  if #h == 0 then return {} end
  local f = redis.call('HMGET', K.task(id), 'status', 'deployment')
  return { h, redis.call('LRANGE', K.history(id), 0, -1), position(id, f[1], f[2]) }
end

local out = {}
for i, id in ipairs(ARGV) do
  local ok, entry = pcall(read, id)
  out[i] = ok and entry or { error_text(entry) }
end
return out
