-- One step of a sending campaign: first the audience is fixed (the segment's members, a page
-- at a time, into a list), then the texts are queued from it a batch at a time. The cursors
-- live in the campaign, so any `serve` process can take the next step, after a crash too, and
-- a member is queued at most once (the recipients hash). Arguments:
-- store::scripts::campaigns::CampaignStep.
local key = K.campaign(A.id)
local c = redis.call('HMGET', key, 'status', 'stage', 'snapshot_cursor', 'fanout_cursor',
  'audience', 'holdout_target', 'holdout_selected', 'segment', 'seed', 'body', 'send_at_local',
  'started_ms', 'links')
if c[1] ~= 'sending' then
  redis.call('SREM', K.active_campaigns(), A.id)
  return reply({ status = 'idle' })
end
local stage = c[2]

if stage == 'snapshot' then
  local cursor = tonumber(c[3] or '0')
  local segment = cjson.decode(c[8] or '{}')
  local page = redis.call('ZRANGE', K.members(), cursor, cursor + A.count - 1)
  local members = {}
  for _, phone in ipairs(page) do
    if in_segment(phone, member_fields(phone), segment) then members[#members + 1] = phone end
  end
  -- One command for the page (A.count is a few hundred: well within Lua's argument limit).
  if #members > 0 then redis.call('RPUSH', K.audience(A.id), unpack(members)) end
  if #page < A.count then
    local audience = redis.call('LLEN', K.audience(A.id))
    local holdout = math.floor(audience * A.holdout_percent / 100 + 0.5)
    redis.call('HSET', key, 'stage', 'fanout', 'audience', audience, 'recipients',
      audience - holdout, 'holdout_target', holdout, 'holdout_selected', 0, 'fanout_cursor', 0)
  else
    redis.call('HSET', key, 'snapshot_cursor', cursor + #page)
  end
  return reply({ status = 'progress' })
end

-- The member's short links to the campaign's URLs (campaigns::links): a token per URL from
-- the campaign's secret seed, 8 base-62 characters; the rare taken one is made again.
local ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
local URLS = A.link_base and cjson.decode(c[13] or '[]') or {}
local function tracked_links(phone)
  local urls = URLS
  if #urls == 0 then return nil end
  local links = {}
  for i, url in ipairs(urls) do
    local attempt = 0
    while true do
      local n = tonumber(string.sub(redis.sha1hex(c[9] .. ':link:' .. phone .. ':' .. i .. ':'
        .. attempt), 1, 12), 16) % 218340105584896
      local token = ''
      for _ = 1, 8 do
        local d = n % 62
        token = string.sub(ALPHABET, d + 1, d + 1) .. token
        n = math.floor(n / 62)
      end
      if redis.call('SET', K.link(token), cjson.encode({ c = A.id, u = url, p = phone }), 'NX',
        'EX', A.link_ttl_secs) then
        links[i] = A.link_base .. '/l/' .. token
        break
      end
      attempt = attempt + 1
    end
  end
  return links
end

-- Fan-out. The holdout is drawn by selection sampling over the audience in order: the member
-- at position `seen` is held out with probability (wanted - selected) / (audience - seen),
-- decided by a hash of the campaign's seed and the position, so the group has exactly
-- round(percent x audience) members and the same seed draws the same group.
local cursor = tonumber(c[4] or '0')
local audience, wanted = tonumber(c[5]), tonumber(c[6])
local selected = tonumber(c[7] or '0')
local phones = redis.call('LRANGE', K.audience(A.id), cursor, cursor + A.count - 1)
local attribution_days = tonumber(redis.call('HGET', key, 'attribution_days') or '7')
local CAP = { max = A.cap_max, window_ms = A.cap_window_ms, ttl_secs = A.message_ttl_secs }
-- Counted here, written once per step.
local counts = { holdout = 0, queued = 0, suppressed = 0, capped = 0 }
-- Who a step before this one (or this step, run before a crash) already decided: read once for
-- the batch, and every decision of this step written once at its end. The audience holds each
-- member once, so no phone comes twice within a step.
local decided = #phones > 0 and redis.call('HMGET', K.recipients(A.id), unpack(phones)) or {}
local decisions = {}
for i, phone in ipairs(phones) do
  local seen = cursor + i - 1
  local u = tonumber(string.sub(redis.sha1hex(c[9] .. ':' .. seen), 1, 12), 16) / 281474976710656
  if selected < wanted and u * (audience - seen) < (wanted - selected) then
    selected = selected + 1
    if not decided[i] then
      counts.holdout = counts.holdout + 1
      decisions[#decisions + 1] = phone
      decisions[#decisions + 1] = 'holdout'
      touch(phone, A.id, 'h', attribution_days)
    end
  elseif not decided[i] then
    local m = member_fields(phone)
    -- send_at_local: the sender holds the text until that time in the recipient's zone, the
    -- first one after the campaign started.
    local outcome = send_marketing(phone, m.status, m.undeliverable, 'campaign', function()
      return { body = c[10], campaign = A.id, balance = tonumber(m.balance or '0'),
        send_at_local = c[11] or nil, local_from_ms = c[11] and tonumber(c[12]) or nil,
        links = tracked_links(phone) }
    end, A.id, CAP)
    if outcome == 'suppressed' or outcome == 'capped' then
      counts[outcome] = counts[outcome] + 1
    else
      counts.queued = counts.queued + 1
    end
    decisions[#decisions + 1] = phone
    decisions[#decisions + 1] = outcome
  end
end
if #decisions > 0 then redis.call('HSET', K.recipients(A.id), unpack(decisions)) end
for field, n in pairs(counts) do
  if n > 0 then redis.call('HINCRBY', key, field, n) end
end
cursor = cursor + #phones
redis.call('HSET', key, 'fanout_cursor', cursor, 'holdout_selected', selected)
if cursor >= audience then
  redis.call('HSET', key, 'status', 'sent', 'stage', 'done', 'completed_at', NOW)
  local c = redis.call('HMGET', key, 'name', 'recipients', 'holdout', 'queued', 'capped',
    'suppressed')
  emit('campaign.sent', nil, { campaign = A.id, name = c[1], recipients = tonumber(c[2] or '0'),
    holdout = tonumber(c[3] or '0'), queued = tonumber(c[4] or '0'),
    capped = tonumber(c[5] or '0'), suppressed = tonumber(c[6] or '0') })
  redis.call('DEL', K.audience(A.id))
  redis.call('SREM', K.active_campaigns(), A.id)
  return reply({ status = 'done' })
end
return reply({ status = 'progress' })
