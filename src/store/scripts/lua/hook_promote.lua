-- Moves an endpoint's due retries back into its queue. Arguments:
-- store::scripts::events::PromoteHooks.
local moved = 0
for _, endpoint in ipairs(A.endpoints) do
  local delayed = K.hook_delayed(endpoint)
  for _, raw in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', NOW_MS, 'LIMIT', 0, A.limit)) do
    redis.call('ZREM', delayed, raw)
    local e = cjson.decode(raw)
    redis.call('XADD', K.hook_queue(endpoint), '*', 'id', e.id, 'body', e.body,
      'attempt', e.attempt)
    moved = moved + 1
  end
end
return reply({ status = 'promoted', count = moved })
