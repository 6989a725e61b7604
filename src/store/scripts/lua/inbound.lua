-- Prelude of every inbound SMS command script (after lib.lua); the command's own part follows.
-- Arguments: store::scripts::Inbound. A command answers { status = 'ok', effect = ... }.

-- Exactly-once: the claim and the effect are one script, so two overlapping deliveries of the
-- same provider message cannot both run (a check-then-mark would let them).
if not redis.call('SET', K.inbound(A.provider_id), NOW_MS_TEXT, 'NX', 'EX', '604800') then
  return reply({ status = 'duplicate' })
end

local PHONE = A.phone

-- The flood limit, the same for every process: at most A.per_minute texts a minute from one
-- number, as many at once (GCRA: one more every 60/A.per_minute s). STOP is never limited
-- (the caller leaves per_minute out). A text over the limit stays claimed, so a provider's
-- retry of it is a duplicate, and does nothing else.
if A.per_minute and not within_rate(K.inbound_rate(PHONE), A.per_minute, 60000) then
  return reply({ status = 'rate_limited' })
end
local MKEY = K.member(PHONE)
local STATUS = redis.call('HGET', MKEY, 'status')
if STATUS then
  -- A number that texts us can receive texts, whatever a carrier said before.
  redis.call('HSET', MKEY, 'last_inbound_at', NOW)
  redis.call('HDEL', MKEY, 'undeliverable')
end

local function done(effect) return reply({ status = 'ok', effect = effect }) end

local function consent(action)
  record_consent(PHONE, { action = action, channel = 'sms', text = A.text,
    message_id = A.provider_id })
end

local function balance()
  return tonumber(redis.call('HGET', MKEY, 'balance') or '0')
end

-- A reply text, within the per-member hourly cap that stops auto-responder loops.
local function reply_text(kind, template, vars)
  local hour_key = K.replies(PHONE, int(math.floor(NOW_MS / 3600000)))
  local sent = redis.call('INCR', hour_key)
  redis.call('EXPIRE', hour_key, '7200')
  if sent > A.max_replies_per_hour then return false end
  enqueue(PHONE, kind, template, vars, A.message_ttl_secs)
  return true
end

-- Opt in: make the member active (creating them if needed), record consent, and credit the
-- welcome points the first time ever. Returns the points credited.
local function activate()
  local locale = A.keyword_locale or A.program_locale
  if not STATUS then
    ensure_member(PHONE, 'sms', 'active', locale)
  else
    set_status(PHONE, STATUS, 'active')
    if A.keyword_locale then redis.call('HSET', MKEY, 'locale', A.keyword_locale) end
  end
  STATUS = 'active'
  -- The welcome series starts at the first opt-in, once.
  local series = P.automations and P.automations.welcome_series
  if series and redis.call('HSETNX', MKEY, 'welcome_series', 1) == 1 then
    for i, after_ms in ipairs(series.steps_ms) do
      schedule('welcome_series|' .. PHONE .. '|' .. i, NOW_MS + after_ms)
    end
  end
  consent('opt_in')
  if redis.call('HGET', MKEY, 'welcome_awarded') == '1' or A.welcome_points <= 0 then
    return 0
  end
  redis.call('HSET', MKEY, 'welcome_awarded', '1')
  local bal = redis.call('HINCRBY', MKEY, 'balance', A.welcome_points)
  local lifetime = redis.call('HINCRBY', MKEY, 'lifetime', A.welcome_points)
  redis.call('HSET', MKEY, 'tier', tier_name(lifetime))
  lots_add(PHONE, A.welcome_points,
    append_ledger(PHONE, { type = 'welcome', points = A.welcome_points, balance = bal }))
  stat('points:issued', A.welcome_points)
  emit('points.earned', PHONE, { points = A.welcome_points, balance = bal, source = 'welcome' })
  return A.welcome_points
end
