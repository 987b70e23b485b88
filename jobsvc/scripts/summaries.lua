-- summaries.lua: the deployment summaries S of the contract, as JSON strings,
-- with the dashboard feed's last entry id read in the same atomic step: a
-- viewer that starts from these summaries skips feed entries up to that id.
-- A lane whose data cannot be read does not stop the others: its entry is
-- {"deployment": d, "unreadable": error text}, which the caller logs and leaves out.
--
-- KEYS[1] jobsvc:dashboard
-- ARGV the deployment names
-- Returns {last feed id ('0-0' if none), JSON string per deployment...}
-- (times in microseconds).
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local out = { last[1] and last[1][1] or '0-0' }
for _, d in ipairs(ARGV) do
  local ok, s = pcall(summary, d)
  if not ok then s = { deployment = d, unreadable = error_text(s) } end
  out[#out + 1] = cjson.encode(s)
end
return out
