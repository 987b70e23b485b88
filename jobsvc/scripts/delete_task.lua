-- delete_task.lua: remove an ended task and everything that refers to it.
--
-- Refuses anything queued or running, and a task that a task not yet ended
-- depends on (its dependents' histories must be checkable against it).  A dedupe identity or a lane's
-- lastTask pointing at the task is let go, so nothing points at a hole.
--
-- KEYS[1] task hash
-- ARGV 1 id
-- Returns 1 if deleted, 0 if missing or not ended.
local tkey = KEYS[1]
local id = ARGV[1]
local t = read_task(id)
if not t or not ENDED[t.status] then return 0 end
if redis.call('EXISTS', K.dependents(id)) == 1 then return 0 end
local d = t.deployment
redis.call('ZREM', K.by_status(t.status), id)
redis.call('ZREM', K.by_deployment(d), id)
redis.call('ZREM', K.cooldown, id)
count(t, t.status, -1)
if t.identity and redis.call('GET', K.dedupe(t.identity)) == id then
  redis.call('DEL', K.dedupe(t.identity))
end
if field(K.lane(d), 'last') == id then
  redis.call('HDEL', K.lane(d), 'last')
  publish(d)
end
-- Its events stay in its lane's stream until trimmed or expired: no reader
-- finds them once the task is gone.
redis.call('DEL', tkey, K.log(id), K.steps(id))
return 1
