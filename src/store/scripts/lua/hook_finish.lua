-- The outcome of one delivery attempt of an endpoint's queue entry: delivered (released), retry
-- (into the delayed set, due at retry_at_ms, with the next attempt number), or dead (into the
-- dead letters). An entry another worker already finished is left alone.
-- Arguments: store::scripts::events::FinishHook.
local queue = K.hook_queue(A.endpoint)
redis.call('XACK', queue, HOOK_GROUP, A.entry)
if redis.call('XDEL', queue, A.entry) == 0 then return reply({ status = 'gone' }) end
if A.outcome == 'retry' then
  redis.call('ZADD', K.hook_delayed(A.endpoint), A.retry_at_ms,
    cjson.encode({ id = A.id, body = A.body, attempt = A.attempt + 1 }))
elseif A.outcome == 'dead' then
  redis.call('XADD', K.hook_dead(A.endpoint), '*', 'id', A.id, 'body', A.body,
    'attempts', A.attempt, 'error', A.error or '', 'failed_at', NOW)
end
return reply({ status = 'recorded' })
