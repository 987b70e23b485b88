-- hook_drop.lua: retention of webhook deliveries.
--
-- Deletes each named delivery that is still ended (delivered or failed) and
-- ended before the cutoff; one redelivered since it was read is kept.
--
-- ARGV 1 cutoff (µs)  2.. delivery ids
-- Returns how many were deleted
local cutoff = tonumber(ARGV[1])
local dropped = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = redis.call('HMGET', K.hook(id), 'status', 'endedAt')
  if (h[1] == 'delivered' or h[1] == 'failed') and h[2] and tonumber(h[2]) < cutoff then
    redis.call('DEL', K.hook(id))
    redis.call('ZREM', K.hooks_by_status(h[1]), id)
    dropped = dropped + 1
  end
end
return dropped
