-- skip.lua: a waiting task (queued, not the lane's active one) -> skipped.
--
-- KEYS[1] task hash   KEYS[2] lane hash
-- ARGV 1 id
-- Returns {'missing'} | {'invalid', status}
--       | {'skipped' [, '@dispatch', id, pool, priority, timeoutS, ...]}
-- (a skipped head of a lane waiting on its dependencies lets the next task start)
local lkey = KEYS[2]
local id = ARGV[1]
local t = read_task(id)
if not t then return { 'missing' } end
if t.status ~= 'queued' or field(lkey, 'active') == id then return { 'invalid', t.status } end
return reply('skipped', end_task(t, 'skipped', 'skipped by request', now_us()))
