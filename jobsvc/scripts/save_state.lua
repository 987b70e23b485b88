-- save_state.lua: a running attempt saves ctx.state (ctx.save_state()); the
-- next attempt of the task starts with it.
--
-- Fenced by the attempt's token, as every write of an attempt.
--
-- KEYS[1] task hash   KEYS[2] the task's steps hash
-- ARGV 1 id  2 token  3 ctx.state JSON
-- Returns 1 if saved | 0 if refused
if not attempt_task(ARGV[1], ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], 'state', ARGV[3])
return 1
