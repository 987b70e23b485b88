-- delete_task.lua: remove an ended task and everything that refers to it.
--
-- Refuses anything queued or running.  A dedupe identity or a lane's
-- lastTask pointing at the task is let go, so nothing points at a hole.
--
-- KEYS[1] task hash
-- ARGV 1 id
-- Returns 1 if deleted, 0 if missing or not ended.
local tkey = KEYS[1]
local id = ARGV[1]
local f = redis.call('HMGET', tkey, 'status', 'deployment', 'type', 'priority', 'identity')
if not f[1] or not ENDED[f[1]] then return 0 end
local d = f[2]
redis.call('ZREM', K.by_status(f[1]), id)
redis.call('ZREM', K.all, id)
redis.call('ZREM', K.by_deployment(d), id)
redis.call('ZREM', K.cooldown, id)
redis.call('HINCRBY', K.counts, K.count('type', f[1], f[3]), -1)
redis.call('HINCRBY', K.counts, K.count('priority', f[1], f[4]), -1)
if f[5] and redis.call('GET', K.dedupe(f[5])) == id then redis.call('DEL', K.dedupe(f[5])) end
if field(K.lane(d), 'last') == id then
  redis.call('HDEL', K.lane(d), 'last')
  publish(d)
end
redis.call('DEL', tkey, K.history(id), K.events(id), K.log(id))
return 1
