-- requeue.lua: a failed or canceled task is queued again at the back of its
-- lane (same id, retryCount kept, history appended).  Its completed steps
-- and ctx.state are kept, so the next attempt resumes after them, unless
-- the caller asks to start from the beginning.
--
-- KEYS[1] task hash
-- ARGV 1 id  2 '1' to start from the beginning (the steps and state go)
-- It waits again on its dependencies not completed; if one of them ended
-- otherwise (or is gone), it could never start, and nothing is written.
-- Returns {'missing'} | {'invalid', status} | {'dependency_failed', id, status}
--       | {'queued' [, '@dispatch', id, pool, priority, timeoutS]}
local tkey = KEYS[1]
local id = ARGV[1]
local t = read_task(id)
if not t then return { 'missing' } end
if t.status ~= 'failed' and t.status ~= 'canceled' then return { 'invalid', t.status } end
local deps = cjson.decode(field(tkey, 'dependsOn') or '[]')
local failed, how = failed_dependency(deps)
if failed then return { 'dependency_failed', failed, how } end
local d = t.deployment
local now = now_us()
wait_on(id, deps)
local seq = redis.call('INCR', K.seq)
redis.call('HDEL', tkey, 'completedAt', 'cooldownUntil', 'result', 'error', 'progress',
  'startedAt', 'dueAt', 'cancelRequested', 'token', 'staleAt')
redis.call('ZREM', K.cooldown, id)
if ARGV[2] == '1' then
  redis.call('DEL', K.steps(id))
  redis.call('HDEL', tkey, 'sn')
end
if t.identity then
  local dkey = K.dedupe(t.identity)
  local holder = redis.call('GET', dkey)
  if not holder or holder == id or not holds_identity(holder, now) then
    redis.call('SET', dkey, id)
  end
end
set_status(t, 'queued', now, 'retry requested', emit_status(t, 'queued', 'retry requested', now))
redis.call('ZADD', K.lane_queue(d), lane_score(t.priority, seq), id)
redis.call('SADD', K.busy, d)
local dispatch = promote(d, now)
depth_set(d)
publish(d)
return reply('queued', dispatch)
