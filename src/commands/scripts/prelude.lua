-- Prelude of every inbound SMS command script (after lib.lua).
-- ARGV: 3 provider message id, 4 phone, 5 inbound text, 6 message ttl s, 7 max replies per hour,
--       8 locale of the keyword ('' when it says nothing about language), 9 welcome points,
--       10 tiers [[name, min]], 11 program locale; command arguments start at 12.
local MSG_ID, PHONE, TEXT = ARGV[3], ARGV[4], ARGV[5]
local MSG_TTL, MAX_REPLIES = tonumber(ARGV[6]), tonumber(ARGV[7])
local KEYWORD_LOCALE, WELCOME_POINTS = ARGV[8], tonumber(ARGV[9])
local TIERS, PROGRAM_LOCALE = cjson.decode(ARGV[10]), ARGV[11]

-- Exactly-once: the claim and the effect are one script, so two overlapping deliveries of the
-- same provider message cannot both run (a check-then-mark would let them).
if not redis.call('SET', B .. 'inbound:' .. MSG_ID, NOW_MS, 'NX', 'EX', 604800) then
  return { 'duplicate' }
end

local MKEY = member_key(PHONE)
local STATUS = redis.call('HGET', MKEY, 'status')
if STATUS then redis.call('HSET', MKEY, 'last_inbound_at', NOW) end

local function consent(action)
  redis.call('LPUSH', MKEY .. ':consent', cjson.encode({ action = action, channel = 'sms',
    at = NOW, text = TEXT, message_id = MSG_ID }))
end

local function balance()
  return tonumber(redis.call('HGET', MKEY, 'balance') or '0')
end

-- A reply text, within the per-member hourly cap that stops auto-responder loops.
local function reply(kind, template, vars)
  local hour_key = MKEY .. ':replies:' .. math.floor(NOW_MS / 3600000)
  local sent = redis.call('INCR', hour_key)
  redis.call('EXPIRE', hour_key, 7200)
  if sent > MAX_REPLIES then return false end
  enqueue(PHONE, kind, template, vars, MSG_TTL)
  return true
end

-- Opt in: make the member active (creating them if needed), record consent, and credit the
-- welcome points the first time ever. Returns the points credited.
local function activate()
  local locale = KEYWORD_LOCALE ~= '' and KEYWORD_LOCALE or PROGRAM_LOCALE
  if not STATUS then
    ensure_member(PHONE, 'sms', 'active', locale)
  else
    set_status(PHONE, STATUS, 'active')
    if KEYWORD_LOCALE ~= '' then redis.call('HSET', MKEY, 'locale', KEYWORD_LOCALE) end
  end
  STATUS = 'active'
  redis.call('HSET', MKEY, 'opted_in_at', NOW)
  consent('opt_in')
  if redis.call('HGET', MKEY, 'welcome_awarded') == '1' or WELCOME_POINTS <= 0 then
    return 0
  end
  redis.call('HSET', MKEY, 'welcome_awarded', '1')
  local bal = redis.call('HINCRBY', MKEY, 'balance', WELCOME_POINTS)
  local lifetime = redis.call('HINCRBY', MKEY, 'lifetime', WELCOME_POINTS)
  redis.call('HSET', MKEY, 'tier', TIERS[tier_index(TIERS, lifetime)][1])
  append_ledger(PHONE, { type = 'welcome', points = WELCOME_POINTS, balance = bal })
  stat('points:issued', WELCOME_POINTS)
  return WELCOME_POINTS
end
