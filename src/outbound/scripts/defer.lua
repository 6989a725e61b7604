-- Put a claimed message back until `at` (quiet hours, or the number's send schedule is full):
-- not an attempt, not a failure.
-- ARGV: 3 message id, 4 stream entry id, 5 at (ms), 6 status to show meanwhile
local key = B .. 'msg:' .. ARGV[3]
redis.call('XACK', B .. 'outbox', 'senders', ARGV[4])
redis.call('XDEL', B .. 'outbox', ARGV[4])
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HINCRBY', key, 'attempts', -1)
redis.call('HSET', key, 'status', ARGV[6], 'retry_at_ms', ARGV[5], 'updated_at', NOW)
redis.call('ZADD', B .. 'outbox:delayed', tonumber(ARGV[5]), ARGV[3])
return 1
