-- reschedule.lua: the reconciler found a lane not late: it is next checked
-- at the given time, unless the lane moved since it was read.
--
-- The caller read the lane's active task (or none) and that task's status,
-- token, dispatchedAt and dueAt.  If any of them changed, a transition ran
-- meanwhile and already set the lane's check time (_lib.lua's
-- check_lane_at): nothing is written, so a late write never undoes a newer
-- one.  A lane with no active task keeps a check time only while it has
-- waiting tasks and is not paused (a drain holds it back).
--
-- KEYS[1] lane hash
-- ARGV 1 deployment  2 active task id ('' if none)  3 status  4 token
--      5 dispatchedAt  6 dueAt (each '' if absent)  7 next check, µs
-- Returns 1 if the lane's check time was set, 0 if the lane moved.
local lkey = KEYS[1]
local d, id = ARGV[1], ARGV[2]
local l = redis.call('HMGET', lkey, 'active', 'paused')
if (l[1] or '') ~= id then return 0 end
if id == '' then
  if l[2] == '1' or redis.call('ZCARD', K.lane_queue(d)) == 0 then return 0 end
else
  local f = redis.call('HMGET', K.task(id), 'status', 'token', 'dispatchedAt', 'dueAt')
  for i = 1, 4 do
    if (f[i] or '') ~= ARGV[i + 2] then return 0 end
  end
end
check_lane_at(d, tonumber(ARGV[7]))
return 1
