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
local tkey, lkey, lease = KEYS[1], KEYS[2], KEYS[3]
local id, outcome, reason = ARGV[1], ARGV[3], ARGV[6]
local f = redis.call('HMGET', tkey, 'token', 'status', 'deployment', 'retryCount', 'maxRetries')
if f[1] ~= ARGV[2] or f[2] ~= 'running' then return { 'stale' } end
local d = f[3]
local now = now_us()
if redis.call('GET', lease) == ARGV[2] then redis.call('DEL', lease) end

if ARGV[5] ~= '' then redis.call('HSET', tkey, 'error', ARGV[5]) end
if outcome == 'failed' and ARGV[8] == '1' and tonumber(f[4]) < tonumber(f[5]) then
  return { 'retry', retry_later(id, d, reason, ARGV[7], now) }
end

if outcome == 'completed' then
  redis.call('HSET', tkey, 'result', ARGV[4])
  redis.call('HDEL', tkey, 'error')
end
local dispatch = end_task(id, d, outcome, reason, now)
return reply('ended', dispatch, outcome)
