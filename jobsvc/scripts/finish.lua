-- finish.lua: a running attempt ends, and the lane moves on in the same step.
--
-- outcome 'completed' stores the result; 'failed' stores the error and, while
-- retries remain and the error is retryable, puts the task back to queued as
-- the lane's active task until its backoff is due (jobsvc:due); 'canceled'
-- acknowledges a cancel request.  A stale token is refused.
--
-- KEYS[1] task hash   KEYS[2] lane hash   KEYS[3] lease key
-- ARGV 1 id  2 token  3 outcome  4 result JSON  5 error JSON ('' if none)
--      6 reason  7 backoff in ms  8 retryable ('1' or '0')
-- Returns {'stale'} | {'retry', dueAt}
--       | {'ended', status [, '@dispatch', id, pool, priority, timeoutS]}
local lease = KEYS[3]
local id, outcome, reason = ARGV[1], ARGV[3], ARGV[6]
local t = read_task(id)
if not t or t.token ~= ARGV[2] or t.status ~= 'running' then return { 'stale' } end
local now = now_us()
-- The lease is this attempt's: a newer attempt would hold another token.
redis.call('DEL', lease)

local fields = {}
if ARGV[5] ~= '' then fields = { 'error', ARGV[5] } end
if outcome == 'failed' and ARGV[8] == '1'
    and tonumber(t.retryCount or '0') < tonumber(t.maxRetries) then
  return { 'retry', retry_later(t, reason, ARGV[7], now, fields) }
end

if outcome == 'completed' then
  -- An earlier attempt's error goes; a null result is not written (absent is null).
  if tonumber(t.attempts) > 1 then redis.call('HDEL', K.task(id), 'error') end
  if ARGV[4] ~= 'null' then fields = { 'result', ARGV[4] } end
end
local dispatch = end_task(t, outcome, reason, now, fields)
return reply('ended', dispatch, outcome)
