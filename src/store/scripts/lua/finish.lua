-- Record a send attempt's outcome and release the stream entry.
-- Arguments: store::scripts::Finish.
local key = K.message(A.message_id)
ack(A.entry)
if redis.call('EXISTS', key) == 0 then return reply({ status = 'gone' }) end
redis.call('HSET', key, 'body', A.body, 'segments', A.segments, 'updated_at', NOW)
if A.error then redis.call('HSET', key, 'error', A.error) end
local outcome = A.outcome
if outcome == 'sent' then
  -- A status callback may have arrived first; never move a message backwards.
  local current = redis.call('HGET', key, 'status')
  local final = current == 'delivered' or current == 'undelivered' or current == 'failed'
  if not final then redis.call('HSET', key, 'status', 'sent') end
  redis.call('HSET', key, 'provider_id', A.provider_id, 'sent_at', NOW)
  campaign_count(key, 'sent')
  -- A campaign's text touches its recipient when it goes out (not when it was queued: quiet
  -- hours may have held it).
  local campaign = redis.call('HGET', key, 'campaign')
  if campaign then
    local days = tonumber(redis.call('HGET', K.campaign(campaign), 'attribution_days') or '7')
    touch(redis.call('HGET', key, 'to'), campaign, 'r', days)
  end
  if final then
    finalize_message(A.message_id)
  else
    redis.call('SET', K.sid(A.provider_id), A.message_id, 'EX', A.sid_ttl_secs)
  end
elseif outcome == 'retry' then
  redis.call('HSET', key, 'status', 'queued', 'retry_at_ms', A.retry_at_ms)
  redis.call('ZADD', K.delayed(), A.retry_at_ms, A.message_id)
elseif outcome == 'dead' then
  redis.call('HSET', key, 'status', 'failed', 'dead', '1')
  campaign_count(key, 'failed')
  redis.call('XADD', K.dead(), '*', 'id', A.message_id, 'error', A.error or '')
elseif outcome == 'opted_out' then
  -- The carrier says the handset replied STOP: record it as an opt-out.
  redis.call('HSET', key, 'status', 'failed')
  campaign_count(key, 'failed')
  local to = redis.call('HGET', key, 'to')
  local status = redis.call('HGET', K.member(to), 'status')
  if status and status ~= 'opted_out' then
    opt_out(to, status, 'carrier', A.error, A.message_id)
  end
  finalize_message(A.message_id)
else
  redis.call('HSET', key, 'status', 'failed')
  campaign_count(key, 'failed')
  finalize_message(A.message_id)
end
return reply({ status = 'recorded' })
