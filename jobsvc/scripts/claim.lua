-- claim.lua: an attempt starts (queued -> running) and takes the lane's lease.
--
-- Only the lane's active task, queued and past any retry backoff, can be
-- claimed; a second RQ execution of the same dispatch finds it running and
-- is refused.  The lane's fence counter gives the attempt its token; every
-- later write of the attempt must carry it.
--
-- KEYS[1] task hash (its lane's hash and lease key are derived from the
--         task's deployment, its log key from its id: the RQ job carries the
--         task id only)
-- KEYS[2] optional: the RQ job that carried this dispatch, deleted whatever
--         the answer (a jobsvc worker keeps no RQ record of a dispatch)
-- ARGV 1 id  2 worker name  3 lease in ms
-- While the service drains nothing starts: {'draining'} (the task stays the
-- lane's active one, due for a check at once; `jobsvc drain --resume` hands
-- it to RQ again).  An attempt that starts puts its lane in the reconciler's
-- index at its lease's end.
-- A later attempt (attempt > 1) starts its output with a marker line, in the
-- log and as a log event: '-- attempt 2 (retry: worker_lost)', the reason
-- taken from the history entry that queued it again, so attempts read apart.
-- A webhook subscription to task.started gets its delivery in this step (outbox).
-- A first start tallies the task's wait since acceptance (observe_wait).
-- Returns {'ok', token, attempt, type, payload JSON, timeoutS, retryCount, deployment}
-- (attempt counts every start of the task, manual retries included)
--       | {'missing'} | {'not_active'} | {'not_queued', status} | {'not_due'} | {'draining'}
local tkey = KEYS[1]
local id = ARGV[1]
local now = now_us()
if KEYS[2] then redis.call('DEL', KEYS[2]) end

local t = read_task(id)
if not t then return { 'missing' } end
if t.status ~= 'queued' then return { 'not_queued', t.status } end
local d = t.deployment
local lkey = K.lane(d)
if field(lkey, 'active') ~= id then return { 'not_active' } end
if t.dueAt and tonumber(t.dueAt) > now then return { 'not_due' } end
if redis.call('EXISTS', K.drain) == 1 then
  -- Its RQ job is gone: the lane is due for a republish once the drain lifts.
  check_lane_at(d, now)
  return { 'draining' }
end

-- The marker line of a later attempt: logged while the log is under its cap (as
-- output.lua does), always an event.  Returns the task fields of its event.
local function attempt_marker(attempt)
  local last = t.hn and field(tkey, 'h' .. t.hn)
  local reason = last and string.match(last, '^%S+ %S+ (.+)$')
  local line = '-- attempt ' .. attempt .. (reason and (' (' .. reason .. ')') or '')
  if redis.call('STRLEN', K.log(id)) < CFG.log_max_bytes then
    redis.call('APPEND', K.log(id), line .. '\n')
  end
  return emit(t, 'log', { line = line }, now)
end

local token = redis.call('HINCRBY', lkey, 'fence', 1)
local attempt = tonumber(t.attempts or '0') + 1
-- What only a waiting dispatch needs (the reconciler's orphan check) goes.
redis.call('HDEL', tkey, 'dueAt', 'dispatchedAt')
if t.dueAt then redis.call('ZREM', K.due, id) end
redis.call('SET', K.lease(d), token, 'PX', ARGV[3])
-- The lane needs a look when the lease would run out unrenewed.
check_lane_at(d, now + tonumber(ARGV[3]) * 1000)
-- A running task's events never expire (end_task sets their time to live).
redis.call('PERSIST', K.lane_events(d))
local fields = extend(
  { 'token', token, 'attempts', attempt, 'startedAt', int(now), 'worker', ARGV[2] },
  emit_status(t, 'running', nil, now))
-- Before set_status, which writes the new history entry over t.hn.
if attempt > 1 then extend(fields, attempt_marker(attempt)) end
if attempt == 1 then observe_wait(t, now) end
set_status(t, 'running', now, nil, fields)
outbox(t, 'task.started', now)
publish(d)

local payload = field(tkey, 'payload') or '{}'
return { 'ok', token, attempt, t.type, payload, t.timeoutS, t.retryCount or '0', d }
