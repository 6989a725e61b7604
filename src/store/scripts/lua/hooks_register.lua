-- Registers the configuration's webhook endpoints for the program, so the scripts' emit() knows
-- which queues to write: `endpoints` maps each endpoint id to {events (a set, absent for all),
-- phone}. Endpoints no longer configured are dropped with their queues. Each queue gets its
-- consumer group. Also draws, once, the key of members' references in events.
-- Arguments: store::scripts::events::RegisterHooks.
redis.call('HSETNX', K.seq(), 'member_ref_key', A.key_candidate)
for _, id in ipairs(redis.call('HKEYS', K.hooks())) do
  if not A.endpoints[id] then
    redis.call('HDEL', K.hooks(), id)
    redis.call('DEL', K.hook_queue(id), K.hook_delayed(id), K.hook_dead(id))
  end
end
for id, spec in pairs(A.endpoints) do
  redis.call('HSET', K.hooks(), id, cjson.encode(spec))
  -- BUSYGROUP when it exists already: nothing to do.
  redis.pcall('XGROUP', 'CREATE', K.hook_queue(id), HOOK_GROUP, '0', 'MKSTREAM')
end
return reply({ status = 'registered' })
