-- Move messages whose retry or quiet-hours delay is over back into the outbox stream.
-- ARGV: 3 most to move
local due = redis.call('ZRANGEBYSCORE', B .. 'outbox:delayed', '-inf', NOW_MS, 'LIMIT', 0,
  tonumber(ARGV[3]))
for _, id in ipairs(due) do
  redis.call('ZREM', B .. 'outbox:delayed', id)
  redis.call('XADD', B .. 'outbox', '*', 'id', id)
end
return #due
