-- step_end.lua: one run of a step's function ended: its result (completed)
-- or its error (failed; 'retrying' when the step will run again in place) is
-- stored with ctx.state in the same step, so a later attempt finds the
-- step done and does not call its function again.
--
-- Fenced by the attempt's token: a frozen attempt that wakes after losing its
-- lease cannot record a step (its run did happen, but the attempt that now
-- owns the task will run the step itself).
--
-- KEYS[1] task hash   KEYS[2] the task's steps hash
-- ARGV 1 id  2 token  3 k  4 name  5 'completed' | 'failed' | 'retrying'
--      6 attempts  7 startedAt (µs)  8 result JSON  9 error JSON ('' if none)
--      10 ctx.state JSON
-- Returns 1 if recorded | 0 if refused
local name, status, attempts = ARGV[4], ARGV[5], ARGV[6]
local t = attempt_task(ARGV[1], ARGV[2])
if not t then return 0 end
local now = now_us()
local result, err = nil, nil
if status == 'completed' then result = ARGV[8] end
if ARGV[9] ~= '' then err = ARGV[9] end
local kept = status == 'completed' and 'completed' or 'failed'
redis.call('HSET', KEYS[2], ARGV[3], step_record(name, kept, attempts, ARGV[7], int(now), result, err),
  'state', ARGV[10])
redis.call('HSET', KEYS[1], unpack(extend({ 'lastOutputAt', int(now) },
  step_event(t, name, status, tonumber(attempts), now))))
return 1
