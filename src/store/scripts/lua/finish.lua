-- Record send attempts' outcomes and release their stream entries: one call for a worker's
-- batch, in order. Arguments: store::scripts::Finish.
local function finish(attempt)
  local key = K.message(attempt.message_id)
  ack(attempt.entry)
  -- Every record has a status (enqueue); a final one moved out of its key (finalize_message).
  local m = redis.call('HMGET', key, 'status', 'campaign', 'to')
  if not m[1] and redis.call('EXISTS', key) == 0 then return end
  local fields = { 'body', attempt.body, 'segments', int(attempt.segments), 'updated_at', NOW }
  if attempt.error then
    fields[#fields + 1] = 'error'
    fields[#fields + 1] = attempt.error
  end
  local outcome = attempt.outcome
  if outcome == 'sent' then
    -- A status callback may have arrived first; never move a message backwards.
    local current, campaign = m[1], m[2]
    local final = current == 'delivered' or current == 'undelivered' or current == 'failed'
    if not final then
      fields[#fields + 1] = 'status'
      fields[#fields + 1] = 'sent'
    end
    fields[#fields + 1] = 'provider_id'
    fields[#fields + 1] = attempt.provider_id
    fields[#fields + 1] = 'sent_at'
    fields[#fields + 1] = NOW
    redis.call('HSET', key, unpack(fields))
    -- A campaign's text touches its recipient when it goes out (not when it was queued: quiet
    -- hours may have held it).
    if campaign then
      local campaign_key = K.campaign(campaign)
      redis.call('HINCRBY', campaign_key, 'sent', '1')
      local days = tonumber(redis.call('HGET', campaign_key, 'attribution_days') or '7')
      touch(m[3], campaign, 'r', days)
    end
    if final then
      finalize_message(attempt.message_id)
    else
      redis.call('SET', K.sid(attempt.provider_id), attempt.message_id, 'EX',
        int(attempt.sid_ttl_secs))
    end
    return
  end
  redis.call('HSET', key, unpack(fields))
  if outcome == 'retry' then
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
