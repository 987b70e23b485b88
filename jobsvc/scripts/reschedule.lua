-- reschedule.lua: the reconciler found lanes not late: each is next checked
-- at the time given for it, unless it moved since it was read.
--
-- For each lane the caller read its active task (or none) and that task's
-- status, token, dispatchedAt and dueAt.  If any of them changed, a
-- transition ran meanwhile and already set the lane's check time (_lib.lua's
-- check_lane_at): nothing is written for that lane, so a late write never
-- undoes a newer one.  A lane with no active task keeps a check time only
-- while it has waiting tasks, is not paused (a drain holds it back) and its
-- head waits on no dependency.
-- Many lanes per call: a script's fixed cost is paid once per batch.
--
-- KEYS[i] lane i's hash
-- ARGV, 7 per lane, in KEYS' order: deployment, active task id ('' if none),
--      status, token, dispatchedAt, dueAt (each '' if absent), next check µs
-- Returns how many lanes' check times were set.

-- True if the lane is still as the caller read it (ARGV from ``at`` on).
local function unmoved(lkey, at)
  local d, id = ARGV[at], ARGV[at + 1]
  local l = redis.call('HMGET', lkey, 'active', 'paused')
  if (l[1] or '') ~= id then return false end
  if id == '' then
    -- A head waiting on a dependency: its dependency's end promotes it.
    return l[2] ~= '1' and redis.call('ZCARD', K.lane_queue(d)) > 0 and not head_waits(d)
  end
  local f = redis.call('HMGET', K.task(id), 'status', 'token', 'dispatchedAt', 'dueAt')
  for i = 1, 4 do
    if (f[i] or '') ~= ARGV[at + 1 + i] then return false end
  end
  return true
end

local set = 0
for i, lkey in ipairs(KEYS) do
  local at = (i - 1) * 7 + 1
  -- A lane whose data went bad since it was read is left as it is (the
  -- next pass reports it); the others are still set.
  local ok, same = pcall(unmoved, lkey, at)
  if ok and same then
    check_lane_at(ARGV[at], tonumber(ARGV[at + 6]))
    set = set + 1
  end
end
return set
