-- claim.lua: an attempt starts (queued -> running) and takes the lane's lease.
--
-- Only the lane's active task, queued and past any retry backoff, can be
-- claimed; a second RQ execution of the same dispatch finds it running and
-- is refused.  The lane's fence counter gives the attempt its token; every
-- later write of the attempt must carry it.
--
-- KEYS[1] task hash (its lane's hash and lease key are derived from the
--         task's deployment: the RQ job carries the task id only)
-- KEYS[2] optional: the RQ job that carried this dispatch, deleted whatever
--         the answer (a jobsvc worker keeps no RQ record of a dispatch)
-- ARGV 1 id  2 worker name  3 lease in ms
-- While the service drains nothing starts: {'draining'} (the task stays the
-- lane's active one; `jobsvc drain --resume` hands it to RQ again).
-- Returns {'ok', token, attempt, type, payload JSON, timeoutS, retryCount, deployment}
-- (attempt counts every start of the task, manual retries included)
--       | {'missing'} | {'not_active'} | {'not_queued', status} | {'not_due'} | {'draining'}
local tkey = KEYS[1]
local id = ARGV[1]
local now = now_us()
if KEYS[2] then redis.call('DEL', KEYS[2]) end

local f = redis.call('HMGET', tkey, 'status', 'deployment', 'dueAt')
if not f[1] then return { 'missing' } end
if f[1] ~= 'queued' then return { 'not_queued', f[1] } end
local lkey, lease = K.lane(f[2]), K.lease(f[2])
if field(lkey, 'active') ~= id then return { 'not_active' } end
if f[3] and tonumber(f[3]) > now then return { 'not_due' } end
if redis.call('EXISTS', K.drain) == 1 then return { 'draining' } end

local token = redis.call('HINCRBY', lkey, 'fence', 1)
local attempt = redis.call('HINCRBY', tkey, 'attempts', 1)
redis.call('HSET', tkey, 'token', token, 'startedAt', int(now), 'worker', ARGV[2])
redis.call('HDEL', tkey, 'dueAt')
redis.call('ZREM', K.due, id)
redis.call('SET', lease, token, 'PX', ARGV[3])
set_status(id, 'running', now, nil)
emit_status(id, 'running', nil, now)
publish(f[2])

local t = redis.call('HMGET', tkey, 'type', 'payload', 'timeoutS', 'retryCount')
return { 'ok', token, attempt, t[1], t[2], t[3], t[4], f[2] }
