-- A delivery status from the provider (Twilio status callback, Telnyx message event).
-- Statuses arrive out of order; a message never moves backwards (delivered stays delivered),
-- and the first final status wins. Arguments: store::scripts::DeliveryStatus.
local id = redis.call('GET', K.sid(A.provider_id))
if not id then return reply({ status = 'unknown' }) end
local key = K.message(id)
local rank = { queued = 0, accepted = 0, scheduled = 0, sending = 1, sent = 2,
  delivered = 3, undelivered = 3, failed = 3, canceled = 3, read = 4 }
local new = A.delivery
if not rank[new] then return reply({ status = 'ignored' }) end
local current = redis.call('HGET', key, 'status')
if current and rank[current] and rank[new] <= rank[current] then
  return reply({ status = 'stale' })
end
redis.call('HSET', key, 'status', new, 'updated_at', NOW)
if A.error_code then redis.call('HSET', key, 'error_code', A.error_code) end
if new == 'delivered' then
  redis.call('HSET', key, 'delivered_at', NOW)
  campaign_count(key, 'delivered')
elseif new == 'undelivered' or new == 'failed' then
  campaign_count(key, 'failed')
end
return reply({ status = 'updated' })
