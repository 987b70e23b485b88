-- _lib.lua: helpers shared by every jobsvc script.
--
-- The loader (scripts/__init__.py) puts this file in front of each script,
-- after a line that defines PREFIX (keys.PREFIX) and CFG (limits taken from
-- the process settings).  Nothing here runs a command on its own.
--
-- Times are integer microseconds from Redis' own clock (TIME), so every
-- process on every machine stamps with one clock; Python renders them as
-- ISO-8601.  Numbers that can exceed 2^31 go through int() before being
-- written, because Lua would print them in exponent form.

if redis.replicate_commands then pcall(redis.replicate_commands) end

-- Mirror of jobsvc/keys.py for the keys a script discovers while it runs:
-- the kind first, a name always last (a deployment name may contain ':').
local K = {
  seq = PREFIX .. 'seq',
  deployments = PREFIX .. 'deployments',
  busy = PREFIX .. 'busy',
  due = PREFIX .. 'due',
  cooldown = PREFIX .. 'cooldown',
  counts = PREFIX .. 'counts',
  dashboard = PREFIX .. 'dashboard',
  all = PREFIX .. 'idx:all',  -- the layout before's index of all tasks: no longer written
  drain = PREFIX .. 'drain',
  checks = PREFIX .. 'checks',
  sweep = PREFIX .. 'sweep',
}
function K.task(id) return PREFIX .. 't:' .. id end
function K.history(id) return PREFIX .. 't:' .. id .. ':h' end
function K.events(id) return PREFIX .. 't:' .. id .. ':ev' end
function K.lane_events(d) return PREFIX .. 'events:' .. d end
function K.log(id) return PREFIX .. 't:' .. id .. ':log' end
function K.steps(id) return PREFIX .. 't:' .. id .. ':steps' end
function K.lane(d) return PREFIX .. 'lane:' .. d end
function K.lane_queue(d) return PREFIX .. 'laneq:' .. d end
function K.lease(d) return PREFIX .. 'lease:' .. d end
function K.by_status(s) return PREFIX .. 'idx:status:' .. s end
function K.by_deployment(d) return PREFIX .. 'idx:dep:' .. d end
function K.dedupe(identity) return PREFIX .. 'dedupe:' .. identity end
-- A field of K.counts (not a key): the name last, as in every key.
function K.count(kind, status, name) return kind .. ':' .. status .. ':' .. name end

local RANK = { critical = 0, high = 1, medium = 2, low = 3 }
-- Lane score = rank * 2^44 + seq: priority first, then acceptance order.
local RANK_SHIFT = 17592186044416
local ENDED = { completed = true, failed = true, canceled = true, skipped = true }

local function int(n) return string.format('%.0f', n) end

-- The text of an error caught by pcall (Redis 7 raises a table, 6 a string).
-- Scripts that walk many lanes or tasks catch each one's error, so one whose
-- data is damaged (a key of the wrong type, say) never stops the others.
local function error_text(e)
  if type(e) == 'table' then return tostring(e.err or cjson.encode(e)) end
  return tostring(e)
end

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- A field's value, or nil (HGET answers false for a missing field).
local function field(key, name)
  local v = redis.call('HGET', key, name)
  if v == false then return nil end
  return v
end

local function lane_score(priority, seq)
  return int(RANK[priority] * RANK_SHIFT + tonumber(seq))
end

-- What a transition reads of a task, in one HMGET.  A task hash holds only
-- the fields that have a value: retryCount, attempts, cooldownS and stallS
-- are 0 when absent, payload and metadata {}, result null.
local TASK_FIELDS = { 'status', 'deployment', 'type', 'priority', 'seq', 'token', 'retryCount',
  'maxRetries', 'timeoutS', 'attempts', 'identity', 'cooldownS', 'dueAt', 'cancelRequested', 'hn',
  'ev0', 'createdAt', 'startedAt' }

-- The task's fields as a table (missing ones nil), or nil if there is no task.
local function read_task(id)
  local v = redis.call('HMGET', K.task(id), unpack(TASK_FIELDS))
  if not v[1] then return nil end
  local t = { id = id }
  for i, name in ipairs(TASK_FIELDS) do
    if v[i] then t[name] = v[i] end
  end
  return t
end

-- Appends field/value pairs to a list of HSET arguments.
local function extend(args, more)
  for _, v in ipairs(more or {}) do args[#args + 1] = v end
  return args
end

-- Counters count a status's bucket: queued and running share one ('active'),
-- so a claim or a retry changes no counter; each ended status has its own.
local function bucket(status)
  if ENDED[status] then return status end
  return 'active'
end

local function count(t, status, delta)
  local b = bucket(status)
  redis.call('HINCRBY', K.counts, K.count('type', b, t.type), delta)
  redis.call('HINCRBY', K.counts, K.count('priority', b, t.priority), delta)
end

-- A history entry as kept: '<status> <at, µs>[ <reason>]', short enough that
-- the task hash stays a listpack.  The first entry, queued at createdAt, is
-- not kept: createdAt says it.  Entry n >= 2 is the task's field 'h<n-1>',
-- and 'hn' counts them.
local function history_entry(status, now, reason)
  if reason and reason ~= '' then return status .. ' ' .. int(now) .. ' ' .. reason end
  return status .. ' ' .. int(now)
end

-- Moves a task to a new status: its index, its counters, its history entry
-- and the fields the caller adds, in one HSET, so no reader ever sees one
-- without the others.
local function set_status(t, new, now, reason, fields)
  redis.call('ZREM', K.by_status(t.status), t.id)
  redis.call('ZADD', K.by_status(new), t.seq, t.id)
  if bucket(t.status) ~= bucket(new) then
    count(t, t.status, -1)
    count(t, new, 1)
  end
  local n = tonumber(t.hn or '0') + 1
  t.status, t.hn = new, tostring(n)
  redis.call('HSET', K.task(t.id), unpack(extend(
    { 'status', new, 'hn', n, 'h' .. n, history_entry(new, now, reason) }, fields)))
end

-- Appends one live event of a task (log, progress, status, step) to its
-- lane's stream: a lane runs one task at a time, so the stream is mostly
-- that task's, and one stream's fixed cost (4 KB and more) is paid per lane,
-- not per task.  Each entry names its task.  Returns the task fields that
-- record it, to be written with the change: 'evN', its last event's id,
-- and 'ev0', its first (where a replay from its start begins).
local function emit(t, kind, data, now)
  local id = redis.call('XADD', K.lane_events(t.deployment), 'MAXLEN', '~', CFG.events_maxlen,
    '*', 'task', t.id, 'type', kind, 'at', int(now), 'data', cjson.encode(data))
  if t.ev0 then return { 'evN', id } end
  t.ev0 = id
  return { 'evN', id, 'ev0', id }
end

local function emit_status(t, status, reason, now)
  local data = { status = status }
  if reason and reason ~= '' then data.reason = reason end
  return emit(t, 'status', data, now)
end

-- True if the lane's hash and queue hold what they should (or nothing yet).
-- Scripts that accept work check it before writing anything, so a lane whose
-- data was damaged refuses whole instead of failing halfway.
local function lane_intact(d)
  local h = redis.call('TYPE', K.lane(d)).ok
  local q = redis.call('TYPE', K.lane_queue(d)).ok
  return (h == 'hash' or h == 'none') and (q == 'zset' or q == 'none')
end

-- A task's place in its lane (the contract's ``position``): 0 for the active
-- task or, when none is active (a paused, draining or waiting lane), for the
-- head, the task that will start first; then 1, 2... in lane order.  -1 if
-- the task is not in the lane.
local function lane_position(d, id)
  local active = field(K.lane(d), 'active')
  if active == id then return 0 end
  local r = redis.call('ZRANK', K.lane_queue(d), id)
  if not r then return -1 end
  if active then return r + 1 end
  return r
end

-- The deployment summary S of the contract (times still in microseconds).
local function summary(d)
  local l = redis.call('HMGET', K.lane(d), 'active', 'paused', 'last')
  local s = {
    deployment = d, activeTaskId = cjson.null, activeTaskStatus = cjson.null,
    queueDepth = redis.call('ZCARD', K.lane_queue(d)), paused = (l[2] == '1'),
    lastTask = cjson.null,
  }
  if l[1] then
    s.activeTaskId = l[1]
    s.activeTaskStatus = field(K.task(l[1]), 'status') or cjson.null
  end
  if l[3] then
    local t = redis.call('HMGET', K.task(l[3]), 'type', 'status', 'completedAt')
    if t[2] then
      s.lastTask = { id = l[3], type = t[1], status = t[2], completedAt = t[3] or cjson.null }
    end
  end
  return s
end

-- Every lane change lands on the dashboard feed in the same step as the
-- change, as the lane's name alone: a viewer reads the lane's summary when
-- the entry reaches it (live.dashboard_events), so an entry costs a few
-- bytes instead of a summary.
local function publish(d)
  redis.call('XADD', K.dashboard, 'MAXLEN', '~', CFG.dashboard_maxlen, '*', 'deployment', d)
end

-- What /metrics reads (docs/metrics.md): tallies that only grow, in one hash
-- (K.tallies; fields as keys.tally builds them, the type name last), and the
-- lanes' waiting counts (K.depths, a ZSET: the deepest lane in O(log n)).
K.tallies = PREFIX .. 'tallies'
K.depths = PREFIX .. 'depths'
function K.tally(...) return table.concat({ ... }, ':') end

-- The bucket of a time (µs): its upper bound (CFG, from policy.py), or 'inf'.
local function bucket_of(bounds, us)
  for _, bound in ipairs(bounds) do
    if us <= bound then return tostring(bound) end
  end
  return 'inf'
end

-- An attempt of task t ended as ``status`` (an ended status, or 'retried' when
-- the task is queued again): tallied by its run time's bucket, and the time
-- added to the type's sum.  A task that ends without a running attempt
-- (skipped, canceled while queued) is tallied in the bucket 'none'.
local function observe_end(t, status, now)
  if t.status ~= 'running' or not t.startedAt then
    redis.call('HINCRBY', K.tallies, K.tally('end', status, 'none', t.type), 1)
    return
  end
  local us = now - tonumber(t.startedAt)
  redis.call('HINCRBY', K.tallies, K.tally('end', status, bucket_of(CFG.run_buckets_us, us), t.type), 1)
  redis.call('HINCRBY', K.tallies, K.tally('run_us', t.type), int(us))
end

-- Task t starts for the first time: its wait since acceptance is tallied.
local function observe_wait(t, now)
  if not t.createdAt then return end
  local us = now - tonumber(t.createdAt)
  redis.call('HINCRBY', K.tallies, K.tally('wait', bucket_of(CFG.wait_buckets_us, us), t.type), 1)
  redis.call('HINCRBY', K.tallies, K.tally('wait_us', t.type), int(us))
end

-- A repair of one of policy.REPAIR_KINDS was made; any other kind is not counted.
local function repaired(kind)
  if CFG.repair_kinds[kind] then redis.call('HINCRBY', K.tallies, K.tally('repair', kind), 1) end
end

-- A lane's waiting count, exactly: a submit and a retry set it (so a count
-- that drifted is right again at the lane's next submit); a promotion and the
-- end of a waiting task take one off (depth_less), and a lane with none
-- waiting leaves the set.
local function depth_set(d)
  local n = redis.call('ZCARD', K.lane_queue(d))
  if n == 0 then
    redis.call('ZREM', K.depths, d)
  else
    redis.call('ZADD', K.depths, n, d)
  end
end

local function depth_less(d)
  if tonumber(redis.call('ZINCRBY', K.depths, -1, d)) <= 0 then redis.call('ZREM', K.depths, d) end
end

-- The reconciler's index (K.checks): each lane that could need a repair,
-- scored by the earliest time (µs) it could.  Every transition that changes
-- what a lane waits for sets its score in the same step; heartbeats and
-- output do not, so a score is a lower bound and the reconciler, finding a
-- lane not late, scores it again (reschedule.lua).
local function check_lane_at(d, at)
  redis.call('ZADD', K.checks, int(at), d)
end

-- What a caller needs to hand a task to RQ: {id, pool, priority, timeoutS}.
-- Its lane is to be checked once the dispatch is past the orphan grace.
local function dispatch_info(id, now)
  local tkey = K.task(id)
  redis.call('HSET', tkey, 'dispatchedAt', int(now))
  local f = redis.call('HMGET', tkey, 'pool', 'priority', 'timeoutS', 'deployment')
  check_lane_at(f[4], now + CFG.orphan_grace_us)
  return { id, f[1], f[2], f[3] }
end

-- Dependencies (a task's dependsOn).  K.waits(id): the task's dependencies
-- not yet completed (SET; none: it may start); K.dependents(id): the tasks
-- not yet ended that list id in their dependsOn (SET; retention keeps id
-- while it has any).  A task whose waits are not empty is never promoted:
-- when it is its lane's head, the lane waits, out of the reconciler's index,
-- until the end of its last dependency promotes it (end_task).
function K.waits(id) return PREFIX .. 'waits:' .. id end
function K.dependents(id) return PREFIX .. 'dependents:' .. id end
-- Ended tasks whose dependents a failed dependency's cascade has yet to skip.
K.cascade = PREFIX .. 'cascade'
-- Dependents one script skips at most; the rest wait in K.cascade for the
-- workers' ticker (take_due.lua), so a long chain never holds Redis long.
local CASCADE_MAX = 200

local function waits(id) return redis.call('EXISTS', K.waits(id)) == 1 end

-- True if the lane's head waits on a dependency (the lane then waits for it).
local function head_waits(d)
  local head = redis.call('ZRANGE', K.lane_queue(d), 0, 0)
  return #head > 0 and waits(head[1])
end

-- The dependency of ``deps`` that ended without completing (or is gone), and
-- how it ended, if any: a task waiting on it could never start.
local function failed_dependency(deps)
  for _, dep in ipairs(deps) do
    local status = field(K.task(dep), 'status')
    if not status or (ENDED[status] and status ~= 'completed') then
      return dep, status or 'deleted'
    end
  end
  return nil
end

-- Registers a queued task as a dependent of each of its dependencies, and
-- waiting on those not completed yet.
local function wait_on(id, deps)
  for _, dep in ipairs(deps) do
    redis.call('SADD', K.dependents(dep), id)
    if field(K.task(dep), 'status') ~= 'completed' then redis.call('SADD', K.waits(id), dep) end
  end
end

-- At a task's end: it no longer waits, nor keeps its dependencies from retention.
local function forget_dependencies(id)
  local deps = field(K.task(id), 'dependsOn')
  if not deps then return end
  for _, dep in ipairs(cjson.decode(deps)) do redis.call('SREM', K.dependents(dep), id) end
  redis.call('DEL', K.waits(id))
end

-- The error of a task skipped because a dependency did not complete.
local function dependency_error(dep, status)
  return { 'error', cjson.encode({ reason = 'dependency_failed', type = 'dependency_failed',
    message = 'dependency ' .. dep .. ' ended ' .. status, traceback = cjson.null }) }
end

-- The lane's head, if the lane may start it (not paused, not waiting on a
-- dependency, the service not draining), else nil; a lane with nothing waiting leaves the busy set.
-- Called for a lane with no active task: one with nothing waiting, or
-- paused, has nothing to check; one held by a drain is checked at once
-- (the reconciler then waits longer: reconcile.py).
local function startable_head(d, paused, now)
  local head = redis.call('ZRANGE', K.lane_queue(d), 0, 0)
  if #head == 0 then
    redis.call('SREM', K.busy, d)
    redis.call('ZREM', K.checks, d)
    return nil
  end
  if paused == '1' then
    redis.call('ZREM', K.checks, d)
    return nil
  end
  if waits(head[1]) then
    redis.call('ZREM', K.checks, d)  -- its last dependency's end promotes it
    return nil
  end
  if redis.call('EXISTS', K.drain) == 1 then
    check_lane_at(d, now)
    return nil
  end
  redis.call('ZREM', K.lane_queue(d), head[1])
  depth_less(d)
  return head[1]
end

-- If the lane is idle, its head (if it may start) becomes the active task.
-- Returns the dispatch info of the promoted task, or an empty table.
local function promote(d, now)
  local l = redis.call('HMGET', K.lane(d), 'active', 'paused')
  if l[1] then return {} end
  local id = startable_head(d, l[2], now)
  if not id then return {} end
  redis.call('HSET', K.lane(d), 'active', id)
  return dispatch_info(id, now)
end

-- The lane's active task has ended (its id is now the lane's 'last'): the
-- next one becomes active if it may start.  Returns its dispatch info, or {}.
local function advance(d, ended, now)
  local lkey = K.lane(d)
  local id = startable_head(d, field(lkey, 'paused'), now)
  if not id then
    redis.call('HDEL', lkey, 'active')
    redis.call('HSET', lkey, 'last', ended)
    return {}
  end
  redis.call('HSET', lkey, 'active', id, 'last', ended)
  return dispatch_info(id, now)
end

-- True while an earlier task still holds its dedupe identity: queued or
-- running, or ended less than its cooldown ago.
local function holds_identity(id, now)
  local f = redis.call('HMGET', K.task(id), 'status', 'cooldownUntil')
  if not f[1] then return false end
  if not ENDED[f[1]] then return true end
  return f[2] ~= false and tonumber(f[2]) > now
end

-- At a task's end: open its cooldown window (adding cooldownUntil to the
-- fields its end writes), or free its dedupe identity.
local function end_identity(t, now, fields)
  if not t.identity then return end
  local dkey = K.dedupe(t.identity)
  local holder = redis.call('GET', dkey)
  local cooldown = tonumber(t.cooldownS or '0')
  if cooldown > 0 then
    local until_us = now + cooldown * 1000000
    extend(fields, { 'cooldownUntil', int(until_us) })
    redis.call('ZREMRANGEBYSCORE', K.cooldown, '-inf', int(now))  -- windows over by now
    redis.call('ZADD', K.cooldown, int(until_us), t.id)
    if holder == t.id then redis.call('PEXPIRE', dkey, int(cooldown * 1000)) end
  elseif holder == t.id then
    redis.call('DEL', dkey)
  end
end

-- Webhooks: the outbox.  A transition that a configured subscription wants
-- (CFG.hooks: id, url without password, events, deployment globs as anchored
-- Lua patterns; never a secret) writes its delivery here, in the same script,
-- so no transition can happen without its delivery being recorded.  The
-- deliverer (jobsvc/webhooks/deliverer.py) takes them from K.hook_due.
function K.hook(id) return PREFIX .. 'hook:' .. id end
function K.hooks_by_status(s) return PREFIX .. 'hookidx:' .. s end
K.hook_seq = PREFIX .. 'hookseq'
K.hook_due = PREFIX .. 'hookdue'
K.hook_counts = PREFIX .. 'hookcounts'

local function hook_wants(h, event, d)
  if not h.events[event] then return false end
  for _, pattern in ipairs(h.deployments) do
    if string.match(d, pattern) then return true end
  end
  return false
end

-- The task as it is now, for the body (JSON: its fields of
-- CFG.snapshot_fields and its step records): the body stays complete after
-- retention has deleted the task.
local function task_snapshot(id)
  local v = redis.call('HMGET', K.task(id), unpack(CFG.snapshot_fields))
  local fields = { id = id }
  for i, name in ipairs(CFG.snapshot_fields) do
    if v[i] then fields[name] = v[i] end
  end
  local steps = {}
  local n = tonumber(field(K.task(id), 'sn') or '0')
  for k = 1, n do steps[#steps + 1] = field(K.steps(id), tostring(k)) end
  return cjson.encode({ fields = fields, steps = steps })
end

-- Records one delivery per subscription that wants ``event`` ('task.<status>')
-- of task ``t``, due now.  Nothing at all when no subscription is configured.
local function outbox(t, event, now)
  if #CFG.hooks == 0 then return end
  local snapshot
  for _, h in ipairs(CFG.hooks) do
    if hook_wants(h, event, t.deployment) then
      snapshot = snapshot or task_snapshot(t.id)
      local seq = redis.call('INCR', K.hook_seq)
      local id = 'msg_' .. t.id .. '_' .. seq
      redis.call('HSET', K.hook(id), 'event', event, 'taskId', t.id, 'sub', h.id, 'url', h.url,
        'status', 'pending', 'attempts', 0, 'createdAt', int(now), 'seq', seq, 'task', snapshot)
      redis.call('ZADD', K.hook_due, int(now), id)
      redis.call('ZADD', K.hooks_by_status('pending'), seq, id)
    end
  end
end

-- Defined after end_task, which it calls for the dependents it skips.
local settle_dependents

-- The common end of a task: stamp, status, events, identity, lane moves on,
-- and its dependents are released or skipped (settle_dependents).
-- ``fields`` are more task fields to write with the status (result, error).
-- The caller has let go of the attempt's lease, if it had one.  ``cascade``:
-- a failed dependency's work list, which this task joins instead of settling
-- its own dependents at once (no recursion).
-- Returns the dispatch infos of the tasks promoted, one after the other.
local function end_task(t, status, reason, now, fields, cascade)
  local id, d = t.id, t.deployment
  fields = extend({ 'completedAt', int(now) }, fields)
  -- What only a live attempt needs goes (an ended task's status refuses its writes).
  redis.call('HDEL', K.task(id), 'worker', 'token', 'dispatchedAt', 'dueAt', 'cancelRequested')
  if t.dueAt then redis.call('ZREM', K.due, id) end
  end_identity(t, now, fields)
  observe_end(t, status, now)
  set_status(t, status, now, reason, extend(fields, emit_status(t, status, reason, now)))
  outbox(t, 'task.' .. status, now)
  local active = field(K.lane(d), 'active')
  -- Ended tasks' events are kept JOBSVC_EVENTS_TTL_S; never those of a
  -- running task (claim.lua persists the stream).
  if active == id or not active then redis.call('EXPIRE', K.lane_events(d), CFG.events_ttl) end
  local nxt = {}
  if active == id then
    nxt = advance(d, id, now)
  else
    if redis.call('ZREM', K.lane_queue(d), id) == 1 then depth_less(d) end
    redis.call('HSET', K.lane(d), 'last', id)
    -- A lane waiting on its head's dependencies moves on without it.
    if not active then nxt = promote(d, now) end
  end
  publish(d)
  forget_dependencies(id)
  if cascade then
    cascade[#cascade + 1] = id
    return nxt
  end
  return extend(nxt, settle_dependents(id, status, now))
end

-- A task that completed releases its dependents: each waits on it no more,
-- and one whose last dependency this was starts if it is its lane's head.
-- Returns their dispatch infos.
local function release_dependents(id, now)
  local out = {}
  for _, dep in ipairs(redis.call('SMEMBERS', K.dependents(id))) do
    redis.call('SREM', K.waits(dep), id)
    local d = field(K.task(dep), 'deployment')
    if d and not waits(dep) then extend(out, promote(d, now)) end
  end
  return out
end

-- Skips the dependents of the ended tasks of ``work`` (a stack of ids), and
-- theirs in turn, at most CASCADE_MAX of them; what is left goes to
-- K.cascade.  Each skipped task leaves its dependencies' dependents as it
-- ends, so every turn shrinks a set.  Returns the dispatch infos.
local function cascade_skips(work, now)
  local out, budget = {}, CASCADE_MAX
  while #work > 0 do
    local id = work[#work]
    local dep = redis.call('SRANDMEMBER', K.dependents(id))
    if not dep then
      work[#work] = nil
    elseif budget == 0 then
      for _, left in ipairs(work) do
        if redis.call('EXISTS', K.dependents(left)) == 1 then redis.call('RPUSH', K.cascade, left) end
      end
      return out
    else
      budget = budget - 1
      local t = read_task(dep)
      if t and t.status == 'queued' then
        local status = field(K.task(id), 'status')
        extend(out, end_task(t, 'skipped', 'dependency_failed', now,
          dependency_error(id, status), work))
      else
        redis.call('SREM', K.dependents(id), dep)
      end
    end
  end
  return out
end

settle_dependents = function(id, status, now)
  if redis.call('EXISTS', K.dependents(id)) == 0 then return {} end
  if status == 'completed' then return release_dependents(id, now) end
  return cascade_skips({ id }, now)
end

-- An attempt failed and retries remain: back to queued, still the lane's
-- active task, due after the backoff (jobsvc:due; a worker's ticker hands it
-- to RQ then).  ``fields`` are more task fields to write (the error).
-- Returns the due time.
local function retry_later(t, reason, backoff_ms, now, fields)
  fields = fields or {}
  local due = int(now + tonumber(backoff_ms) * 1000)
  redis.call('ZADD', K.due, due, t.id)
  -- A worker's ticker dispatches it when due; if none does, it is an orphan.
  check_lane_at(t.deployment, tonumber(due) + CFG.orphan_grace_us)
  extend(fields, emit_status(t, 'queued', 'retry: ' .. reason, now))
  observe_end(t, 'retried', now)
  set_status(t, 'queued', now, 'retry: ' .. reason, extend(
    { 'retryCount', tonumber(t.retryCount or '0') + 1, 'dueAt', due }, fields))
  publish(t.deployment)
  return due
end

-- Flattens {code, ...} plus an optional dispatch table into one reply.
local function reply(code, dispatch, ...)
  local out = { code }
  for _, v in ipairs({ ... }) do out[#out + 1] = v end
  if dispatch and #dispatch > 0 then
    out[#out + 1] = '@dispatch'
    for _, v in ipairs(dispatch) do out[#out + 1] = v end
  end
  return out
end

-- Steps of a multi-step task (step_start.lua, step_end.lua, save_state.lua).
-- A task's steps live in a hash of their own (K.steps: '<k>' -> the k-th
-- step's record, 'state' -> ctx.state), so a task that uses none pays nothing;
-- the task's 'sn' field counts the steps started (readers look only then).

-- The task of a running attempt whose token is still the task's own, else
-- nil: a frozen attempt that lost its lease records no step and no state.
local function attempt_task(id, token)
  local f = redis.call('HMGET', K.task(id), 'token', 'status', 'deployment', 'ev0')
  if f[1] ~= token or f[2] ~= 'running' then return nil end
  return { id = id, deployment = f[3], ev0 = f[4] or nil }
end

-- A step's record as stored: JSON built around the result and error, which
-- arrive as JSON and are kept byte for byte (a decode and encode in Lua
-- would turn [] into {}).  Times in µs; nil fields are null.
local function step_record(name, status, attempts, started, ended, result, err)
  return '{"name":' .. cjson.encode(name) .. ',"status":"' .. status .. '","attempts":'
    .. attempts .. ',"startedAt":' .. started .. ',"completedAt":' .. (ended or 'null')
    .. ',"result":' .. (result or 'null') .. ',"error":' .. (err or 'null') .. '}'
end

-- A step's change as everyone sees it: a 'step' event and a marker line in the
-- task's log ('== step build: completed', while the log is under its cap).
-- Returns the task fields that record the event, for the caller's one HSET.
local function step_event(t, name, status, attempt, now)
  local lkey = K.log(t.id)
  if redis.call('STRLEN', lkey) < CFG.log_max_bytes then
    redis.call('APPEND', lkey, '== step ' .. name .. ': ' .. status .. '\n')
  end
  return emit(t, 'step', { name = name, status = status, attempt = attempt }, now)
end
