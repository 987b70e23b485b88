-- submit.lua: accept a task into its deployment's lane, in one atomic step:
-- dedupe/cooldown check, create, append to the lane, promote if idle.
--
-- KEYS[1] task hash      KEYS[2] lane hash      KEYS[3] dedupe key (ARGV[9] = '' if none)
-- ARGV  1 id  2 deployment  3 type  4 priority  5 pool  6 payload JSON
--       7 metadata JSON  8 dedupeKey as given ('' if none)  9 identity hash ('' if none)
--       10 cooldownS  11 maxRetries  12 timeoutS  13 stallS (0: the process default)
--       14 dependsOn: JSON list of task ids ('[]' if none)
-- Returns {'deduplicated', earlier_id}       (its dependsOn is left as it is)
--       | {'id_taken'}                        (the random id exists: caller picks another)
--       | {'lane_unreadable'}                 (the lane's data is damaged: nothing written)
--       | {'unknown_dependency', id}          (no such task: nothing written)
--       | {'dependency_deadlock', id}         (it would wait on task id, which waits on
--                                            it by lane order: nothing written)
--       | {'dependency_unproven', id}         (its waits reach further than the check
--                                            looks, past task id: nothing written)
--       | {'created', id, createdAt, position, waitingOn
--          [, '@dispatch', id, pool, priority, timeoutS, ...]}
-- (the caller renders the new task from what it sent plus these values, so
-- accepting a task takes one round trip, not a second read; waitingOn: a JSON
-- list of its dependencies not completed, '' if none; position -1: a
-- dependency had already failed, and the task was skipped at once)
local tkey, dkey = KEYS[1], KEYS[3]
local id, d, identity = ARGV[1], ARGV[2], ARGV[9]
local now = now_us()
if not lane_intact(d) then return { 'lane_unreadable' } end

if identity ~= '' then
  local earlier = redis.call('GET', dkey)
  if earlier and holds_identity(earlier, now) then
    return { 'deduplicated', earlier }
  end
end
if redis.call('EXISTS', tkey) == 1 then return { 'id_taken' } end

-- Tasks the deadlock check looks at, at most; a submission whose waits reach
-- further is refused (docs/api.md): accepted unchecked, it could wedge lanes.
local DEADLOCK_WALK = 1000

-- What a waiting task T waits for: its dependencies not completed, and the
-- tasks ahead of it in its lane.  The new task N would never start if that,
-- followed from N's dependencies, reaches a task queued behind N in N's own
-- lane ``d`` (it waits on N by lane order): the only way back to N, which
-- nothing else names yet.  A running or dispatched task ends the path (it
-- will end).  Returns the task reached and false, or the task where the walk
-- stopped at its bound and true, or nil.
local function behind_in_lane(deps, score)
  local todo, seen, walked = { unpack(deps) }, {}, 0
  while #todo > 0 do
    local id = table.remove(todo)
    if not seen[id] then
      if walked >= DEADLOCK_WALK then return id, true end
      seen[id], walked = true, walked + 1
      local f = redis.call('HMGET', K.task(id), 'status', 'deployment', 'priority', 'seq')
      if f[1] == 'queued' and field(K.lane(f[2]), 'active') ~= id then
        local at = tonumber(lane_score(f[3], f[4]))
        if f[2] == d and at > score then return id, false end
        extend(todo, redis.call('SMEMBERS', K.waits(id)))
        local room = DEADLOCK_WALK - walked
        local ahead = redis.call('ZRANGEBYSCORE', K.lane_queue(f[2]), '-inf', '(' .. int(at),
          'LIMIT', 0, room + 1)
        if #ahead > room then return id, true end
        extend(todo, ahead)
      end
    end
  end
  return nil
end

local deps = cjson.decode(ARGV[14])
for _, dep in ipairs(deps) do
  if redis.call('EXISTS', K.task(dep)) == 0 then return { 'unknown_dependency', dep } end
end
if #deps > 0 then
  -- INCR comes after every refusal: a refused submission writes nothing.
  local next_seq = tonumber(redis.call('GET', K.seq) or '0') + 1
  local blocked, too_far = behind_in_lane(deps, tonumber(lane_score(ARGV[4], next_seq)))
  if too_far then return { 'dependency_unproven', blocked } end
  if blocked then return { 'dependency_deadlock', blocked } end
end

local seq = redis.call('INCR', K.seq)
local t = { id = id, type = ARGV[3], priority = ARGV[4] }
-- Only what differs from a default is written (see TASK_FIELDS in _lib.lua);
-- the history's first entry is createdAt itself.
local fields = { 'deployment', d, 'type', t.type, 'priority', t.priority, 'pool', ARGV[5],
  'seq', seq, 'maxRetries', ARGV[11], 'timeoutS', ARGV[12], 'createdAt', int(now),
  'status', 'queued' }
local optional = { payload = { ARGV[6], '{}' }, metadata = { ARGV[7], '{}' },
  cooldownS = { ARGV[10], '0' }, stallS = { ARGV[13], '0' } }
for name, v in pairs(optional) do
  if v[1] ~= v[2] then extend(fields, { name, v[1] }) end
end
if #deps > 0 then extend(fields, { 'dependsOn', ARGV[14] }) end
if identity ~= '' then
  extend(fields, { 'dedupeKey', ARGV[8], 'identity', identity })
  redis.call('SET', dkey, id)
end
redis.call('HSET', tkey, unpack(fields))
redis.call('ZADD', K.by_status('queued'), seq, id)
count(t, 'queued', 1)

redis.call('ZADD', K.lane_queue(d), lane_score(ARGV[4], seq), id)
redis.call('ZADD', K.by_deployment(d), seq, id)
redis.call('ZADD', K.deployments, 0, d)
redis.call('SADD', K.busy, d)

local failed, how = failed_dependency(deps)
if failed then
  local dispatch = end_task(read_task(id), 'skipped', 'dependency_failed', now,
    dependency_error(failed, how))
  depth_set(d)
  return reply('created', dispatch, id, int(now), -1, '')
end
wait_on(id, deps)
local waiting_on = redis.call('SMEMBERS', K.waits(id))
local dispatch = promote(d, now)
depth_set(d)
publish(d)
return reply('created', dispatch, id, int(now), lane_position(d, id),
  #waiting_on > 0 and cjson.encode(waiting_on) or '')
