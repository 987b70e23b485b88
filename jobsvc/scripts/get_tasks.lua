-- get_tasks.lua: read tasks with their history and lane position in one trip.
-- A task whose data (or whose lane's) cannot be read does not stop the
-- others: its entry is the error text alone.  For a listing, the caller caps
-- what one task may carry: a field it names that is longer than the cap is
-- left out, and only the history's last entries are read; the entry names
-- what was cut.
--
-- KEYS: none fixed (read only; task keys are derived from the ids)
-- ARGV 1 field cap in bytes (0: none)  2 history cap in entries (0: all)
--      3 the fields that may be cut, comma-separated  4.. the task ids
-- Returns one entry per id: {} if missing, {error text} if unreadable, else
-- {flat HGETALL, history list, position, names cut} where position is -1 for
-- an ended task.
local field_max, history_max = tonumber(ARGV[1]), tonumber(ARGV[2])
local cuttable = {}
for name in string.gmatch(ARGV[3], '[^,]+') do cuttable[name] = true end

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
  local fields, cut = {}, {}
  for i = 1, #h, 2 do
    if field_max > 0 and cuttable[h[i]] and #h[i + 1] > field_max then
      cut[#cut + 1] = h[i]
    else
      fields[#fields + 1] = h[i]
      fields[#fields + 1] = h[i + 1]
    end
  end
  local first = 0
  if history_max > 0 and redis.call('LLEN', K.history(id)) > history_max then
    first = -history_max
    cut[#cut + 1] = 'history'
  end
  local f = redis.call('HMGET', K.task(id), 'status', 'deployment')
  return { fields, redis.call('LRANGE', K.history(id), first, -1), position(id, f[1], f[2]), cut }
end

local out = {}
for i = 4, #ARGV do
  local ok, entry = pcall(read, ARGV[i])
  out[#out + 1] = ok and entry or { error_text(entry) }
end
return out
