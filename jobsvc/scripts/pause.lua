-- pause.lua: pause or resume a lane.  A paused lane starts nothing new; its
-- active task (running, or waiting out a retry backoff) goes on.
--
-- KEYS[1] lane hash
-- ARGV 1 deployment  2 '1' to pause, '0' to resume
-- Returns {'ok' [, '@dispatch', id, pool, priority, timeoutS]}
--       | {'lane_unreadable'} (the lane's data is damaged: nothing written)
local lkey = KEYS[1]
local d = ARGV[1]
local now = now_us()
if not lane_intact(d) then return { 'lane_unreadable' } end
redis.call('ZADD', K.deployments, 0, d)
local dispatch = {}
if ARGV[2] == '1' then
  redis.call('HSET', lkey, 'paused', '1')
else
  redis.call('HDEL', lkey, 'paused')
  dispatch = promote(d, now)
end
publish(d)
return reply('ok', dispatch)
