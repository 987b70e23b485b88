-- reap.lua: end an attempt that nobody will finish: its lease expired (the
-- process running it died or froze), or it stalled or overran and the
-- caller forces it.  The attempt's token is fenced off first, so if it
-- wakes up, every write it tries is refused.  Then the task is retried if
-- attempts remain, else failed, and the lane moves on.
--
-- KEYS[1] task hash   KEYS[2] lane hash   KEYS[3] lease key
-- ARGV 1 id  2 token the caller saw  3 reason ('worker_lost' | 'stalled' | 'timeout')
--      4 error JSON  5 backoff in ms  6 '1' to reap even with a live lease
-- A reap is tallied as a repair of its reason's kind (policy.REPAIR_KINDS).
-- Returns {'alive'} | {'moved'} | {'retry', dueAt}
--       | {'ended', 'failed' [, '@dispatch', id, pool, priority, timeoutS]}
local tkey, lkey, lease = KEYS[1], KEYS[2], KEYS[3]
local id, token, reason = ARGV[1], ARGV[2], ARGV[3]
local t = read_task(id)
if not t or t.status ~= 'running' or t.token ~= token then return { 'moved' } end
local holder = redis.call('GET', lease)
if holder == token and ARGV[6] ~= '1' then return { 'alive' } end
if holder == token then redis.call('DEL', lease) end
local now = now_us()
repaired(reason)
-- Fence the attempt off: a write carrying the old token no longer matches.
local fields = { 'token', redis.call('HINCRBY', lkey, 'fence', 1), 'error', ARGV[4] }
if t.cancelRequested then
  redis.call('HDEL', tkey, 'cancelRequested')
  t.cancelRequested = nil
end

if tonumber(t.retryCount or '0') < tonumber(t.maxRetries) then
  return { 'retry', retry_later(t, reason, ARGV[5], now, fields) }
end
local dispatch = end_task(t, 'failed', reason, now, fields)
return reply('ended', dispatch, 'failed')
