-- Claim messages for sending and apply the send-time rules; atomic with each member's status,
-- so a STOP that lands between enqueue and send is always honoured. One call claims a worker's
-- whole batch, in order. Arguments: store::scripts::Prepare.
local function prepare(message_id, entry)
  local key = K.message(message_id)
  local m = redis.call('HMGET', key, 'to', 'kind', 'template', 'vars', 'status', 'campaign',
    'attempts')
  if not m[1] then ack(entry); return { status = 'gone' } end
  if m[5] == 'sent' or m[5] == 'delivered' or m[5] == 'suppressed' or m[5] == 'failed' then
    ack(entry); return { status = 'gone' }
  end
  local to, kind = m[1], m[2]
  local member = redis.call('HMGET', K.member(to), 'status', 'locale', 'first_name')
  local status = member[1]
  -- Who may receive what:
  --   optout_confirmation: anyone (the one text after STOP).
  --   reply_any (HELP):   anyone, opted out or not (CTIA: HELP is always answered).
  --   consent_request:    pending members.
  --   everything else:    active members only.
  local allowed
  if kind == 'optout_confirmation' or kind == 'reply_any' then
    allowed = true
  elseif status == 'opted_out' then
    allowed = false
  elseif kind == 'consent_request' then
    allowed = (status == 'pending')
  else
    allowed = (status == 'active')
  end
  -- A campaign's text goes out only while its campaign still sends.
  local campaign = m[6]
  local halted
  if allowed and campaign then
    local campaign_status = redis.call('HGET', K.campaign(campaign), 'status')
    if campaign_status == 'cancelled' then halted = 'campaign cancelled' end
    if campaign_status == 'paused' then
      -- Held until the campaign resumes (campaign_resume.lua) or is cancelled.
      redis.call('ZADD', K.held(campaign), NOW_MS, message_id)
      redis.call('HSET', key, 'status', 'queued', 'updated_at', NOW)
      ack(entry)
      return { status = 'held' }
    end
  end
  if halted then
    redis.call('HSET', key, 'status', 'suppressed', 'updated_at', NOW, 'error', halted)
    campaign_count(key, 'suppressed')
    finalize_message(message_id)
    ack(entry)
    return { status = 'suppressed', member_status = status or nil }
  end
  if not allowed then
    campaign_count(key, 'suppressed')
    redis.call('HSET', key, 'status', 'suppressed', 'updated_at', NOW,
      'error', 'member status ' .. tostring(status))
    finalize_message(message_id)
    ack(entry)
    return { status = 'suppressed', member_status = status or nil }
  end
  local attempts = tonumber(m[7] or '0') + 1
  redis.call('HSET', key, 'status', 'sending', 'updated_at', NOW, 'attempts', int(attempts))
  return { status = 'send', to = to, kind = kind, template = m[3], vars = cjson.decode(m[4]),
    attempts = attempts, locale = member[2] or nil, first_name = member[3] or nil }
end

local claimed = {}
for i, m in ipairs(A.messages) do claimed[i] = prepare(m.message_id, m.entry) end
return reply({ status = 'prepared', messages = claimed })
