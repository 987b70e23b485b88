-- promote.lua: an idle, unpaused lane with waiting tasks starts its head.
-- The reconciler's repair for a lane whose promotion never happened.
--
-- KEYS[1] lane hash
-- ARGV 1 deployment
-- A promotion is tallied as a 'stuck_lane' repair.
-- Returns {'ok' [, '@dispatch', id, pool, priority, timeoutS]}
local d = ARGV[1]
local dispatch = promote(d, now_us())
if #dispatch > 0 then
  publish(d)
  repaired('stuck_lane')
end
return reply('ok', dispatch)
