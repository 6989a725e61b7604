-- Record send attempts' outcomes and release their stream entries: one call for a worker's
-- batch, in order. Arguments: store::scripts::Finish.
local function finish(attempt)
  local key = K.message(attempt.message_id)
  ack(attempt.entry)
  -- Every record has a status (enqueue); a final one moved out of its key (finalize_message).
  local m = redis.call('HMGET', key, 'status', 'campaign', 'to')
  if not m[1] and redis.call('EXISTS', key) == 0 then return end
  -- The fields this outcome sets, written by one HSET.
  local fields = { 'body', attempt.body, 'segments', int(attempt.segments), 'updated_at', NOW }
  local function set(name, value)
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
  if attempt.error then set('error', attempt.error) end
  -- Counted on the text's campaign, if it has one: its counters follow its texts.
  local campaign, to = m[2], m[3]
  local function count(field)
    if campaign then redis.call('HINCRBY', K.campaign(campaign), field, '1') end
  end
  local outcome = attempt.outcome
  if outcome == 'sent' then
    -- A status callback may have arrived first; never move a message backwards.
    local current = m[1]
    local final = current == 'delivered' or current == 'undelivered' or current == 'failed'
    if not final then set('status', 'sent') end
    set('provider_id', attempt.provider_id)
    set('sent_at', NOW)
    redis.call('HSET', key, unpack(fields))
    count('sent')
    -- A campaign's text touches its recipient when it goes out (not when it was queued: quiet
    -- hours may have held it).
    if campaign then
      local days = tonumber(redis.call('HGET', K.campaign(campaign), 'attribution_days') or '7')
      touch(to, campaign, 'r', days)
    end
    if final then
      finalize_message(attempt.message_id)
    else
      redis.call('SET', K.sid(attempt.provider_id), attempt.message_id, 'EX',
        int(attempt.sid_ttl_secs))
    end
  elseif outcome == 'retry' then
    set('status', 'queued')
    set('retry_at_ms', int(attempt.retry_at_ms))
    redis.call('HSET', key, unpack(fields))
    redis.call('ZADD', K.delayed(), attempt.retry_at_ms, attempt.message_id)
  elseif outcome == 'dead' then
    set('status', 'failed')
    set('dead', '1')
    redis.call('HSET', key, unpack(fields))
    count('failed')
    redis.call('XADD', K.dead(), '*', 'id', attempt.message_id, 'error', attempt.error or '')
  else
    set('status', 'failed')
    redis.call('HSET', key, unpack(fields))
    count('failed')
    if outcome == 'opted_out' then
      -- The carrier says the handset replied STOP: record it as an opt-out.
      local status = redis.call('HGET', K.member(to), 'status')
      if status and status ~= 'opted_out' then
        opt_out(to, status, 'carrier', attempt.error, attempt.message_id)
      end
    end
    finalize_message(attempt.message_id)
  end
end

for _, attempt in ipairs(A.attempts) do finish(attempt) end
return reply({ status = 'recorded' })
