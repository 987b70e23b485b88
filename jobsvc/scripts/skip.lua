-- skip.lua: a waiting task (queued, not the lane's active one) -> skipped.
--
-- KEYS[1] task hash   KEYS[2] lane hash
-- ARGV 1 id
-- Returns {'missing'} | {'invalid', status} | {'skipped'}
local tkey, lkey = KEYS[1], KEYS[2]
local id = ARGV[1]
local status = field(tkey, 'status')
if not status then return { 'missing' } end
if status ~= 'queued' or field(lkey, 'active') == id then return { 'invalid', status } end
local d = field(tkey, 'deployment')
end_task(id, d, 'skipped', 'skipped by request', now_us())
return { 'skipped' }
