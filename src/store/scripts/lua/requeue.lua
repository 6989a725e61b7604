-- Give a dead-lettered message a fresh set of attempts. Arguments: store::scripts::Requeue.
local key = K.message(A.message_id)
if redis.call('HGET', key, 'dead') ~= '1' then return reply({ status = 'not_dead' }) end
for _, entry in ipairs(redis.call('XRANGE', K.dead(), '-', '+', 'COUNT', 10000)) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'id' and fields[i + 1] == A.message_id then
      redis.call('XDEL', K.dead(), entry[1])
    end
  end
end
redis.call('HDEL', key, 'dead', 'retry_at_ms')
redis.call('HSET', key, 'status', 'queued', 'attempts', 0, 'updated_at', NOW)
redis.call('XADD', K.outbox(), '*', 'id', A.message_id)
return reply({ status = 'requeued' })
