-- Give a dead-lettered message a fresh set of attempts.
-- ARGV: 3 message id
local id = ARGV[3]
local key = B .. 'msg:' .. id
if redis.call('HGET', key, 'dead') ~= '1' then return 0 end
for _, entry in ipairs(redis.call('XRANGE', B .. 'outbox:dead', '-', '+', 'COUNT', 10000)) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'id' and fields[i + 1] == id then
      redis.call('XDEL', B .. 'outbox:dead', entry[1])
    end
  end
end
redis.call('HDEL', key, 'dead', 'retry_at_ms')
redis.call('HSET', key, 'status', 'queued', 'attempts', 0, 'updated_at', NOW)
redis.call('XADD', B .. 'outbox', '*', 'id', id)
return 1
