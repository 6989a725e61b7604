-- Start the scheduled campaigns whose time has come, once each (whatever the number of `serve`
-- processes asking). Arguments: store::scripts::campaigns::DueCampaigns.
local started = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.scheduled_campaigns(), '-inf', NOW_MS)) do
  redis.call('ZREM', K.scheduled_campaigns(), id)
  local key = K.campaign(id)
  if redis.call('HGET', key, 'status') == 'scheduled' then
    redis.call('HSET', key, 'status', 'sending', 'stage', 'snapshot', 'snapshot_cursor', 0,
      'started_at', NOW, 'started_ms', NOW_MS)
    redis.call('SADD', K.active_campaigns(), id)
    table.insert(started, id)
  end
end
return reply({ status = 'checked', started = started })
