-- popped.lua: a worker has popped a dispatch from its RQ queue and marks
-- its RQ job so, before anything else (before it forks a work-horse).
--
-- RQ's pop (LPOP over several queues) takes the job id out of its queue
-- list and leaves the job hash; claim.lua deletes the hash.  A popped job
-- whose claim never comes (the worker died in between) is then told from a
-- job still waiting by this mark and its age, in O(1), instead of a search
-- of the queue list (processes/reconcile.py).
--
-- KEYS[1] the RQ job hash
-- ARGV 1 the mark's field name  2 worker name
-- Returns 1 if marked, 0 if the job is gone (nothing is created).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], int(now_us()) .. ' ' .. ARGV[2])
return 1
