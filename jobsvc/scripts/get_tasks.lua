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
-- {flat fields (HGETALL but the history, plus 'id', plus 'waitingOn': a JSON
-- list of its dependencies not yet completed, if any), history entries
-- ('<status> <at>[ <reason>]'), position, names cut, steps (each one's
-- record as JSON, in order)} where position is -1 for an ended task.  A
-- listing cuts the steps as it cuts a field, when together they are longer.
local field_max, history_max = tonumber(ARGV[1]), tonumber(ARGV[2])
local cuttable = {}
for name in string.gmatch(ARGV[3], '[^,]+') do cuttable[name] = true end

local function position(id, status, d)
  if ENDED[status] then return -1 end
  return lane_position(d, id)
end

-- The history entries: the implied first one (queued at createdAt), then the
-- fields h1..h<hn>; only the last history_max of them if a cap is given.
local function history(created, kept, n)
  local first, out = 0, {}
  if history_max > 0 and n + 1 > history_max then first = n + 1 - history_max end
  if first == 0 then out[1] = 'queued ' .. created end
  for i = math.max(first, 1), n do out[#out + 1] = kept[i] end
  return out, first > 0
end

-- A task's step records, in order (only a task whose 'sn' counts some has any).
local function read_steps(id, n)
  if n == 0 then return {} end
  local places = {}
  for k = 1, n do places[k] = tostring(k) end
  local steps = {}
  for _, record in ipairs(redis.call('HMGET', K.steps(id), unpack(places))) do
    if record then steps[#steps + 1] = record end
  end
  return steps
end

local function read(id)
  local h = redis.call('HGETALL', K.task(id))
  if #h == 0 then return {} end
  local fields, cut, kept, f = { 'id', id }, {}, {}, {}
  for i = 1, #h, 2 do
    local name, value = h[i], h[i + 1]
    local n = string.match(name, '^h(%d+)$')
    f[name] = value
    if n then
      kept[tonumber(n)] = value
    elseif field_max > 0 and cuttable[name] and #value > field_max then
      cut[#cut + 1] = name
    else
      fields[#fields + 1] = name
      fields[#fields + 1] = value
    end
  end
  local waiting_on = redis.call('SMEMBERS', K.waits(id))
  if #waiting_on > 0 then extend(fields, { 'waitingOn', cjson.encode(waiting_on) }) end
  local entries, shortened = history(f.createdAt, kept, tonumber(f.hn or '0'))
  if shortened then cut[#cut + 1] = 'history' end
  local steps = read_steps(id, tonumber(f.sn or '0'))
  if field_max > 0 and #table.concat(steps) > field_max then
    steps = {}
    cut[#cut + 1] = 'steps'
  end
  return { fields, entries, position(id, f.status, f.deployment), cut, steps }
end

local out = {}
for i = 4, #ARGV do
  local ok, entry = pcall(read, ARGV[i])
  out[#out + 1] = ok and entry or { error_text(entry) }
end
return out
