-- Record send attempts' outcomes and release their stream entries: one call for a worker's
-- batch, in order. Arguments: store::scripts::Finish.
local function finish(attempt)
  local key = K.message(attempt.message_id)
  ack(attempt.entry)
  if redis.call('EXISTS', key) == 0 then return end
  redis.call('HSET', key, 'body', attempt.body, 'segments', attempt.segments, 'updated_at', NOW)
  if attempt.error then redis.call('HSET', key, 'error', attempt.error) end
  local outcome = attempt.outcome
  if outcome == 'sent' then
    -- A status callback may have arrived first; never move a message backwards.
    local current = redis.call('HGET', key, 'status')
    local final = current == 'delivered' or current == 'undelivered' or current == 'failed'
    if not final then redis.call('HSET', key, 'status', 'sent') end
    redis.call('HSET', key, 'provider_id', attempt.provider_id, 'sent_at', NOW)
    campaign_count(key, 'sent')
    -- A campaign's text touches its recipient when it goes out (not when it was queued: quiet
    -- hours may have held it).
    local campaign = redis.call('HGET', key, 'campaign')
    if campaign then
      local days = tonumber(redis.call('HGET', K.campaign(campaign), 'attribution_days') or '7')
      touch(redis.call('HGET', key, 'to'), campaign, 'r', days)
    end
    if final then
      finalize_message(attempt.message_id)
    else
      redis.call('SET', K.sid(attempt.provider_id), attempt.message_id, 'EX', attempt.sid_ttl_secs)
    end
  elseif outcome == 'retry' then
    redis.call('HSET', key, 'status', 'queued', 'retry_at_ms', attempt.retry_at_ms)
    redis.call('ZADD', K.delayed(), attempt.retry_at_ms, attempt.message_id)
  elseif outcome == 'dead' then
    redis.call('HSET', key, 'status', 'failed', 'dead', '1')
    campaign_count(key, 'failed')
    redis.call('XADD', K.dead(), '*', 'id', attempt.message_id, 'error', attempt.error or '')
  elseif outcome == 'opted_out' then
    -- The carrier says the handset replied STOP: record it as an opt-out.
    redis.call('HSET', key, 'status', 'failed')
    campaign_count(key, 'failed')
    local to = redis.call('HGET', key, 'to')
    local status = redis.call('HGET', K.member(to), 'status')
    if status and status ~= 'opted_out' then
      opt_out(to, status, 'carrier', attempt.error, attempt.message_id)
    end
    finalize_message(attempt.message_id)
  else
    redis.call('HSET', key, 'status', 'failed')
    campaign_count(key, 'failed')
    finalize_message(attempt.message_id)
  end
end

for _, attempt in ipairs(A.attempts) do finish(attempt) end
return reply({ status = 'recorded' })
