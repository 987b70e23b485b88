-- popped.lua: a worker has popped a dispatch from its RQ queue and marks
-- its RQ job so, before anything else (before it forks a work-horse).
--
-- RQ's pop (LPOP over several queues) takes the job id out of its queue
-- list and leaves the job hash; claim.lua deletes the hash.  A popped job
-- whose claim never comes (the worker died in between) is then told from a
-- job still waiting by this mark and its age, in O(1), instead of a search
-- of the queue list (processes/reconcile.py).  If the task is its lane's
-- active one, still queued, the lane is due for a check when the claim is
-- overdue: the mark is a step the reconciler's index follows, as a claim is.
--
-- KEYS[1] the RQ job hash
-- ARGV 1 the mark's field name  2 worker name  3 task id (the job's id)
-- Returns 1 if marked, 0 if the job is gone (nothing is created).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local id = ARGV[3]
local now = now_us()
redis.call('HSET', KEYS[1], ARGV[1], int(now) .. ' ' .. ARGV[2])
local f = redis.call('HMGET', K.task(id), 'status', 'deployment')
if f[1] == 'queued' and field(K.lane(f[2]), 'active') == id then
  check_lane_at(f[2], now + CFG.orphan_grace_us)
end
return 1
