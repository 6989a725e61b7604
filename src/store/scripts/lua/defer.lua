-- Put a claimed message back until `until_ms` (quiet hours, or the number's send schedule is
-- full): not an attempt, not a failure. Arguments: store::scripts::Defer.
local key = K.message(A.message_id)
ack(A.entry)
if redis.call('EXISTS', key) == 0 then return reply({ status = 'gone' }) end
redis.call('HINCRBY', key, 'attempts', -1)
redis.call('HSET', key, 'status', A.shown_status, 'retry_at_ms', A.until_ms, 'updated_at', NOW)
redis.call('ZADD', K.delayed(), A.until_ms, A.message_id)
return reply({ status = 'deferred' })
