-- offer_types.lua: a worker publishes the task types it runs.
--
-- Each type is stamped with the time of this call (Redis' clock), so a
-- submitter counts an offer only while it is younger than the TTL.  Offers
-- older than that (workers gone, types removed from their modules) are
-- dropped here, and the whole hash expires once no worker has published
-- for a TTL: an install whose workers are all gone is a fresh one again.
-- When workers disagree on a type (a rolling deploy), the latest wins.
--
-- KEYS[1] jobsvc:offers
-- ARGV 1 the TTL of an offer, in ms (JOBSVC_OFFERS_TTL_S)
-- ARGV 2.. pairs: type name, its published JSON
-- Returns the number of stale offers dropped.
local offers = KEYS[1]
local now = now_us()
local oldest = now - tonumber(ARGV[1]) * 1000
local dropped = 0
local all = redis.call('HGETALL', offers)
for i = 1, #all, 2 do
  local seen = tonumber(string.match(all[i + 1], '^(%d+) '))
  if not seen or seen < oldest then
    redis.call('HDEL', offers, all[i])
    dropped = dropped + 1
  end
end
local stamp = int(now) .. ' '
for i = 2, #ARGV - 1, 2 do
  redis.call('HSET', offers, ARGV[i], stamp .. ARGV[i + 1])
end
if redis.call('EXISTS', offers) == 1 then
  redis.call('PEXPIRE', offers, ARGV[1])
end
return dropped
