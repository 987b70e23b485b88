-- heartbeat.lua: the running attempt proves it is alive and renews its lease.
--
-- KEYS[1] lease key   KEYS[2] task hash
-- ARGV 1 token  2 lease in ms
-- Returns 'ok' | 'cancel' (a cancel was requested: stop the handler)
--       | 'lost' (the lease is gone or belongs to a newer attempt: stop writing)
local lease, tkey = KEYS[1], KEYS[2]
if redis.call('GET', lease) ~= ARGV[1] then return 'lost' end
redis.call('PEXPIRE', lease, ARGV[2])
if redis.call('HGET', tkey, 'cancelRequested') == '1' then return 'cancel' end
return 'ok'
