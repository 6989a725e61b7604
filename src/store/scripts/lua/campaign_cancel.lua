-- Cancel a campaign: nothing more is queued, and its texts not sent yet (waiting for their
-- turn or for the recipient's daytime) are not sent (prepare.lua), also after every text was
-- queued (status sent).
-- Arguments: store::scripts::campaigns::CancelCampaign.
local key = K.campaign(A.id)
local status = redis.call('HGET', key, 'status')
if not status then return reply({ status = 'not_found' }) end
if status == 'cancelled' then
  return reply({ status = 'unchanged', current = status })
end
redis.call('HSET', key, 'status', 'cancelled', 'cancelled_at', NOW)
redis.call('SREM', K.active_campaigns(), A.id)
redis.call('ZREM', K.scheduled_campaigns(), A.id)
redis.call('DEL', K.audience(A.id))
-- Texts held while the campaign was paused are not sent either.
for _, id in ipairs(redis.call('ZRANGE', K.held(A.id), 0, -1)) do
  local message = K.message(id)
  if redis.call('EXISTS', message) == 1 then
    redis.call('HSET', message, 'status', 'suppressed', 'updated_at', NOW,
      'error', 'campaign cancelled')
    redis.call('HINCRBY', key, 'suppressed', 1)
  end
end
redis.call('DEL', K.held(A.id))
return reply({ status = 'cancelled' })
