-- cancel.lua: cancel a task at the user's request.
--
-- queued (waiting, or active but not started, or in retry backoff) ->
-- canceled at once, and the lane moves on.  running with a live lease -> a
-- cancel request the attempt picks up at its next heartbeat (it then ends
-- through finish.lua).  running whose lease is gone (its worker died) ->
-- canceled at once, since nobody is left to acknowledge.
--
-- KEYS[1] task hash   KEYS[2] lease key
-- ARGV 1 id  2 reason
-- Returns {'missing'} | {'ended', status} | {'requested'}
--       | {'canceled' [, '@dispatch', id, pool, priority, timeoutS]}
local tkey, lease = KEYS[1], KEYS[2]
local id = ARGV[1]
local t = read_task(id)
if not t then return { 'missing' } end
if ENDED[t.status] then return { 'ended', t.status } end
if t.status == 'running' and redis.call('GET', lease) == t.token then
  redis.call('HSET', tkey, 'cancelRequested', '1')
  return { 'requested' }
end
local dispatch = end_task(t, 'canceled', ARGV[2], now_us())
return reply('canceled', dispatch)
