-- POS earn: credit a purchase, auto-issue rewards, enqueue the receipt text; idempotent on
-- (location, receipt).
-- ARGV: 3 fingerprint, 4 phone, 5 location, 6 receipt, 7 amount, 8 tender, 9 first_name,
--       10 tiers [[name, min, points_at_this_tier]], 11 auto rewards [[id, points, valid_days]]
--       sorted by points descending, 12 candidate codes [..], 13 receipt ttl s, 14 message ttl s,
--       15 locale for a new member
local fp, phone, location, receipt = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local amount, tender, first_name = tonumber(ARGV[7]), ARGV[8], ARGV[9]
local tiers, rewards, codes = cjson.decode(ARGV[10]), cjson.decode(ARGV[11]), cjson.decode(ARGV[12])
local receipt_ttl, msg_ttl = tonumber(ARGV[13]), tonumber(ARGV[14])

local rkey = B .. 'receipt:earn:' .. location .. ':' .. receipt
local answered = prior_answer(rkey, fp)
if answered then return answered end

local mkey = member_key(phone)
local created = ensure_member(phone, 'pos', 'pending', ARGV[15])
if created then
  -- A number typed at a till is not consent; the record says so, and the member stays pending.
  redis.call('LPUSH', mkey .. ':consent', cjson.encode({ action = 'enrolled_pending',
    channel = 'pos', at = NOW, location = location, receipt = receipt }))
end
if first_name ~= '' and not redis.call('HGET', mkey, 'first_name') then
  redis.call('HSET', mkey, 'first_name', first_name)
end

-- Whether this earn texts the member is known now (the status does not change below), so the
-- text's id can go into the ledger entry.
local status = redis.call('HGET', mkey, 'status')
local text_kind
if status == 'active' then
  text_kind = 'receipt'
elseif status == 'pending' and redis.call('HGET', mkey, 'consent_requested') ~= '1' then
  text_kind = 'consent_request'
end
local message_id = text_kind and new_message_id() or nil

local lifetime_before = tonumber(redis.call('HGET', mkey, 'lifetime'))
local points = tiers[tier_index(tiers, lifetime_before)][3]
local balance = redis.call('HINCRBY', mkey, 'balance', points)
local lifetime = redis.call('HINCRBY', mkey, 'lifetime', points)
local visits = redis.call('HINCRBY', mkey, 'visits', 1)
local tier = tiers[tier_index(tiers, lifetime)][1]
redis.call('HSET', mkey, 'last_visit_at', NOW, 'last_visit_ms', NOW_MS, 'tier', tier)
redis.call('SADD', mkey .. ':locations', location)
append_ledger(phone, { type = 'earn', points = points, balance = balance, amount = amount,
  location = location, receipt = receipt, tender = tender, message_id = message_id })
stat('points:issued', points, location)
stat('visits', 1, location)
if visits == 1 then stat('visitors', 1) end
if visits == 2 then stat('repeat_visitors', 1) end

local issued = {}
local next_code = 1
for _, r in ipairs(rewards) do
  while balance >= r[2] and next_code <= #codes do
    local code = codes[next_code]
    next_code = next_code + 1
    local ckey = B .. 'code:' .. code
    if redis.call('EXISTS', ckey) == 0 then
      balance = redis.call('HINCRBY', mkey, 'balance', -r[2])
      local expires_ms = NOW_MS + r[3] * 86400000
      redis.call('HSET', ckey, 'code', code, 'phone', phone, 'reward', r[1], 'points', r[2],
        'status', 'unused', 'issued_at', NOW, 'expires_ms', expires_ms)
      redis.call('PEXPIREAT', ckey, expires_ms + receipt_ttl * 1000)
      redis.call('SADD', mkey .. ':codes', code)
      append_ledger(phone, { type = 'reward_issued', points = -r[2], balance = balance,
        reward = r[1], code = code, location = location, receipt = receipt })
      stat('points:redeemed', r[2], location)
      stat('rewards:issued', 1, location)
      table.insert(issued, { code = code, reward = r[1], expires_ms = expires_ms })
    end
  end
end

if text_kind == 'receipt' then
  enqueue(phone, 'transactional', 'earn', { points = points, balance = balance,
    location = location, rewards_issued = issued }, msg_ttl, message_id)
elseif text_kind == 'consent_request' then
  redis.call('HSET', mkey, 'consent_requested', '1')
  enqueue(phone, 'consent_request', 'confirm', { points = points, balance = balance }, msg_ttl,
    message_id)
end

local result = member_summary(phone)
result.points = points
result.rewards_issued = issued
local response = cjson.encode(result)
redis.call('HSET', rkey, 'fp', fp, 'response', response, 'phone', phone, 'points', points,
  'amount', amount, 'at', NOW)
redis.call('EXPIRE', rkey, receipt_ttl)
return { 'ok', response }
