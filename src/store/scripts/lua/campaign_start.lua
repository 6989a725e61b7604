-- Start sending a campaign (now, or when its send time comes). Once: a second start, or one
-- of a campaign that is no longer a draft or scheduled, changes nothing.
-- Arguments: store::scripts::campaigns::StartCampaign.
local key = K.campaign(A.id)
local status = redis.call('HGET', key, 'status')
if not status then return reply({ status = 'not_found' }) end
if A.schedule_at_ms then
  if status ~= 'draft' then return reply({ status = 'unchanged', current = status }) end
  redis.call('HSET', key, 'status', 'scheduled', 'send_at_ms', A.schedule_at_ms)
  redis.call('ZADD', K.scheduled_campaigns(), A.schedule_at_ms, A.id)
  return reply({ status = 'scheduled' })
end
if status ~= 'draft' and status ~= 'scheduled' then
  return reply({ status = 'unchanged', current = status })
end
redis.call('HSET', key, 'status', 'sending', 'stage', 'snapshot', 'snapshot_cursor', 0,
  'started_at', NOW, 'started_ms', NOW_MS)
redis.call('SADD', K.active_campaigns(), A.id)
redis.call('ZREM', K.scheduled_campaigns(), A.id)
return reply({ status = 'started' })
