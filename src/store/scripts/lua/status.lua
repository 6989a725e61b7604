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
if A.failure == 'unreachable' then
  -- The number can never get a text: marketing skips it from now on (an inbound text from it
  -- clears the mark, see inbound.lua).
  local member = K.member(redis.call('HGET', key, 'to') or '')
  if redis.call('EXISTS', member) == 1 then redis.call('HSET', member, 'undeliverable', '1') end
elseif A.failure == 'filtered' then
  local campaign = redis.call('HGET', key, 'campaign')
  if campaign then
    local ckey = K.campaign(campaign)
    local filtered = redis.call('HINCRBY', ckey, 'filtered', 1)
    local c = redis.call('HMGET', ckey, 'sent', 'status')
    local sent = tonumber(c[1] or '0')
    if (c[2] == 'sending' or c[2] == 'sent') and sent > 0
      and filtered * 100 > A.pause_on_filtered_percent * sent then
      -- Carriers are filtering this campaign: stop it before the sending number's reputation
      -- suffers. Its texts not sent yet wait (prepare.lua) until it is resumed or cancelled.
      redis.call('HSET', ckey, 'status', 'paused', 'paused_from', c[2], 'paused_at', NOW,
        'paused_reason', string.format(
          'carriers filtered %d of the %d texts sent, more than campaigns.pause_on_filtered_percent (%s%%)',
          filtered, sent, tostring(A.pause_on_filtered_percent)))
      redis.call('SREM', K.active_campaigns(), campaign)
    end
  end
end
if rank[new] >= 3 and current ~= 'sending' then
  -- Final: the record keeps its outcome, and no later callback needs the provider's id. (A
  -- callback can beat the sender's own record of the send: finish.lua finalizes then.)
  finalize_message(id)
  redis.call('DEL', K.sid(A.provider_id))
end
return reply({ status = 'updated' })
