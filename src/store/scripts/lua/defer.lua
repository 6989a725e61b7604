-- Put a claimed message back until `until_ms` (quiet hours, or the number's send schedule is
-- full): not an attempt, not a failure. Arguments: store::scripts::Defer.
local key = K.message(A.message_id)
ack(A.entry)
if redis.call('EXISTS', key) == 0 then return reply({ status = 'gone' }) end
redis.call('HINCRBY', key, 'attempts', -1)
-- A campaign counts a text deferred to its recipient's daytime once, however often it waits.
if A.shown_status == 'deferred' and redis.call('HSETNX', key, 'was_deferred', '1') == 1 then
  campaign_count(key, 'deferred')
end
redis.call('HSET', key, 'status', A.shown_status, 'retry_at_ms', A.until_ms, 'updated_at', NOW)
redis.call('ZADD', K.delayed(), A.until_ms, A.message_id)
return reply({ status = 'deferred' })
