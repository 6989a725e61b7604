-- Move messages whose retry or quiet-hours delay is over back into the outbox stream.
-- Arguments: store::scripts::Promote.
local due = redis.call('ZRANGEBYSCORE', K.delayed(), '-inf', NOW_MS, 'LIMIT', 0, A.limit)
for _, id in ipairs(due) do
  redis.call('ZREM', K.delayed(), id)
  redis.call('XADD', K.outbox(), '*', 'id', id)
end
return reply({ status = 'promoted', count = #due })
