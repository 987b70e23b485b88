-- submit.lua: accept a task into its deployment's lane, in one atomic step:
-- dedupe/cooldown check, create, append to the lane, promote if idle.
--
-- KEYS[1] task hash      KEYS[2] lane hash      KEYS[3] dedupe key (ARGV[9] = '' if none)
-- ARGV  1 id  2 deployment  3 type  4 priority  5 pool  6 payload JSON
--       7 metadata JSON  8 dedupeKey as given ('' if none)  9 identity hash ('' if none)
--       10 cooldownS  11 maxRetries  12 timeoutS  13 stallS (0: the process default)
-- Returns {'deduplicated', earlier_id}
--       | {'id_taken'}                        (the random id exists: caller picks another)
--       | {'lane_unreadable'}                 (the lane's data is damaged: nothing written)
--       | {'created', id, createdAt, position [, '@dispatch', id, pool, priority, timeoutS]}
-- (the caller renders the new task from what it sent plus these two values,
-- so accepting a task takes one round trip, not a second read)
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

local dispatch = promote(d, now)
publish(d)
local position = 0
if #dispatch == 0 then position = redis.call('ZRANK', K.lane_queue(d), id) + 1 end
return reply('created', dispatch, id, int(now), position)
