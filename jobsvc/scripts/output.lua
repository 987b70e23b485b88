-- output.lua: a running attempt writes output lines or progress, or beats.
--
-- Refused unless the token is the task's current one and the task runs, so a
-- paused or superseded attempt that wakes up cannot write over a newer one.
--
-- KEYS[1] task hash   KEYS[2] log string
-- ARGV 1 id  2 token  3 kind ('log' | 'progress' | 'beat')
--      4.. for 'log': the lines; otherwise one JSON object (the event data)
-- Returns 1 if written, 0 if refused.
local tkey, lkey = KEYS[1], KEYS[2]
local id, kind = ARGV[1], ARGV[3]
local f = redis.call('HMGET', tkey, 'token', 'status', 'deployment', 'ev0')
if f[1] ~= ARGV[2] or f[2] ~= 'running' then return 0 end
local t = { id = id, deployment = f[3], ev0 = f[4] or nil }
local now = now_us()

if kind == 'beat' then
  redis.call('HSET', tkey, 'lastBeatAt', int(now))
  return 1
end
local fields = { 'lastOutputAt', int(now) }
if kind == 'log' then
  -- Each line whole, while the log is under its cap; one APPEND for them all.
  local size, text, ev = redis.call('STRLEN', lkey), {}, {}
  for i = 4, #ARGV do
    if size < CFG.log_max_bytes then
      text[#text + 1] = ARGV[i] .. '\n'
      size = size + #ARGV[i] + 1
    end
    ev = emit(t, 'log', { line = ARGV[i] }, now)
  end
  if #text > 0 then redis.call('APPEND', lkey, table.concat(text)) end
  extend(fields, ev)
elseif kind == 'progress' then
  extend(fields, { 'progress', ARGV[4] })
  extend(fields, emit(t, 'progress', cjson.decode(ARGV[4]), now))
else
  fields = emit(t, kind, cjson.decode(ARGV[4]), now)
end
redis.call('HSET', tkey, unpack(fields))
return 1
