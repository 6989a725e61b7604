-- Gives an endpoint's dead-lettered event a fresh set of attempts (same webhook-id, so the
-- receiver can still tell a repeat). Arguments: store::scripts::events::RequeueHook.
local dead = K.hook_dead(A.endpoint)
for _, entry in ipairs(redis.call('XRANGE', dead, '-', '+')) do
  local f = {}
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  if f.id == A.id then
    redis.call('XDEL', dead, entry[1])
    redis.call('XADD', K.hook_queue(A.endpoint), '*', 'id', f.id, 'body', f.body, 'attempt', 1)
    return reply({ status = 'requeued' })
  end
end
return reply({ status = 'not_found' })
