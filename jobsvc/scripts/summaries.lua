-- summaries.lua: the deployment summaries S of the contract, as JSON strings.
--
-- KEYS: none fixed (read only)
-- ARGV the deployment names
-- Returns one JSON string per deployment (times in microseconds).
local out = {}
for i, d in ipairs(ARGV) do out[i] = cjson.encode(summary(d)) end
return out
