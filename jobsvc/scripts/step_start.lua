-- step_start.lua: a running attempt starts one run of a step's function (the
-- first, or an in-place retry, or the rerun of a step an earlier attempt left
-- unfinished).
--
-- Fenced by the attempt's token: an attempt that lost its lease starts
-- nothing.  The run is recorded before the function is called, so a step's
-- 'attempts' counts every run, including those a crash interrupted.
--
-- KEYS[1] task hash   KEYS[2] the task's steps hash
-- ARGV 1 id  2 token  3 k (the step's place in the task, from 1)  4 name
--      5 attempts (runs of the step's function, this one included)
-- Returns the start time (µs, as text) | 0 if refused
local k, name, attempts = ARGV[3], ARGV[4], ARGV[5]
local t = attempt_task(ARGV[1], ARGV[2])
if not t then return 0 end
local now = now_us()
redis.call('HSET', KEYS[2], k, step_record(name, 'running', attempts, int(now)))
redis.call('HSET', KEYS[1], unpack(extend({ 'lastOutputAt', int(now), 'sn', k },
  step_event(t, name, 'running', tonumber(attempts), now))))
return int(now)
