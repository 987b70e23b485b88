-- output.lua: a running attempt writes output lines, progress or a step.
--
-- Refused unless the token is the task's current one and the task runs, so a
-- paused or superseded attempt that wakes up cannot write over a newer one.
--
-- KEYS[1] task hash   KEYS[2] log string
-- ARGV 1 id  2 token  3 kind ('log' | 'progress' | 'step' | 'beat')
--      4.. for 'log': the lines; otherwise one JSON object (the event data)
-- Returns 1 if written, 0 if refused.
local tkey, lkey = KEYS[1], KEYS[2]
local id, kind = ARGV[1], ARGV[3]
local f = redis.call('HMGET', tkey, 'token', 'status')
if f[1] ~= ARGV[2] or f[2] ~= 'running' then return 0 end
local now = now_us()

if kind == 'log' then
  for i = 4, #ARGV do
    local line = ARGV[i]
    if redis.call('STRLEN', lkey) < CFG.log_max_bytes then
      redis.call('APPEND', lkey, line .. '\n')
    end
    emit(id, 'log', { line = line }, now)
  end
  redis.call('HSET', tkey, 'lastOutputAt', int(now))
elseif kind == 'beat' then
  redis.call('HSET', tkey, 'lastBeatAt', int(now))
elseif kind == 'progress' then
  redis.call('HSET', tkey, 'progress', ARGV[4], 'lastOutputAt', int(now))
  emit(id, 'progress', cjson.decode(ARGV[4]), now)
else
  emit(id, kind, cjson.decode(ARGV[4]), now)
end
return 1
