-- POS earn: credit a purchase, auto-issue rewards, enqueue the receipt text; idempotent on
-- (location, receipt). Arguments: store::scripts::Earn.
-- The receipt keeps what the answer is made of rather than the answer: a replay rebuilds it
-- (lib.lua's Receipts says where it is kept). The fingerprint's first 64 bits tell a replay
-- from a conflict.
local r = Receipts.find(A.location, A.receipt)
if r then
  if r.fp ~= string.sub(A.fingerprint, 1, #r.fp) then return reply({ status = 'conflict' }) end
  -- Receipts written before answers were rebuilt hold theirs whole.
  if r.response then return reply_stored('replay', 'result', r.response) end
  return reply_stored('replay', 'result', cjson.encode({ phone = r.phone,
    points = r.points, balance = r.bal, lifetime_points = r.life,
    tier = r.tier or tier_name(r.life), status = r.st, bonus_multiplier = tonumber(r.bonus),
    rewards_issued = r.issued and cjson.decode(r.issued) or {} }))
end

local phone = A.phone
local mkey = K.member(phone)
if ensure_member(phone, 'pos', 'pending', A.locale) then
  -- A number typed at a till is not consent; the record says so, and the member stays pending
  -- (opted out, if the number was erased: see ensure_member).
  local suppressed = redis.call('HGET', mkey, 'status') == 'opted_out'
  record_consent(phone, { action = suppressed and 'enrolled_suppressed' or 'enrolled_pending',
    channel = 'pos', location = A.location, receipt = A.receipt })
end
if A.first_name and not redis.call('HGET', mkey, 'first_name') then
  redis.call('HSET', mkey, 'first_name', A.first_name)
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
local points = A.points[tier_index(lifetime_before)]
-- A win-back bonus (auto_run.lua) multiplies the points of the next purchase within its time;
-- only a program with a win-back can have granted one, so the others skip the read.
local bonus_multiplier
local bonus = P.automations and P.automations.win_back
  and redis.call('HMGET', mkey, 'win_back_multiplier', 'win_back_until_ms') or {}
if bonus[1] then
  redis.call('HDEL', mkey, 'win_back_multiplier', 'win_back_until_ms')
  if tonumber(bonus[2]) >= NOW_MS then
    bonus_multiplier = tonumber(bonus[1])
    points = math.floor(points * bonus_multiplier)
  end
end
local balance = redis.call('HINCRBY', mkey, 'balance', points)
local lifetime = redis.call('HINCRBY', mkey, 'lifetime', points)
local visits = redis.call('HINCRBY', mkey, 'visits', 1)
-- The locations a member visited are fields of their hash (`loc:<id>`): a key of its own per
-- member cost more than the member's record.
redis.call('HSET', mkey, 'last_visit_ms', NOW_MS, 'tier', tier_name(lifetime),
  'loc:' .. A.location, 1)
local lot = append_ledger(phone, { type = 'earn', points = points, balance = balance,
  amount = A.amount, location = A.location, receipt = A.receipt, tender = A.tender,
  message_id = message_id, bonus_multiplier = bonus_multiplier })
lots_add(phone, points, lot)
stat('points:issued', points, A.location)
stat('visits', 1, A.location)
emit('points.earned', phone, { points = points, balance = balance, amount = A.amount,
  location = A.location, receipt = A.receipt, tender = A.tender, source = 'purchase' })
attribute_visit(phone, A.amount, points)
if visits == 1 then stat('visitors', 1) end
if visits == 2 then stat('repeat_visitors', 1) end

-- A referred member's first purchase: both get the referral bonus, once, within the
-- referrer's allowance for the calendar month (UTC).
local referred_by = visits == 1 and P.referral and redis.call('HGET', mkey, 'referred_by')
if referred_by then
  -- Absent when the referrer was erased since.
  local referrer = redis.call('GET', K.referral(referred_by)) or ''
  local rkey_member = K.member(referrer)
  local month = string.sub(NOW, 1, 7)
  local r = redis.call('HMGET', rkey_member, 'ref_month', 'ref_count', 'status')
  local count = (r[1] == month) and tonumber(r[2]) or 0
  if r[3] and count < P.referral.max_per_month then
    local bonus = P.referral.bonus_points
    redis.call('HSET', rkey_member, 'ref_month', month, 'ref_count', count + 1)
    redis.call('HSET', mkey, 'referral_rewarded', '1')
    local balances = {}
    for _, who in ipairs({ phone, referrer }) do
      local wkey = K.member(who)
      local b = redis.call('HINCRBY', wkey, 'balance', bonus)
      redis.call('HSET', wkey, 'tier', tier_name(redis.call('HINCRBY', wkey, 'lifetime', bonus)))
      lots_add(who, bonus, append_ledger(who, { type = 'referral', points = bonus, balance = b }))
      stat('points:issued', bonus)
      emit('points.earned', who, { points = bonus, balance = b, source = 'referral' })
      balances[who] = b
    end
    balance = balances[phone]
    if r[3] == 'active' then
      enqueue(referrer, 'transactional', 'referral_bonus',
        { points = bonus, balance = balances[referrer] }, A.message_ttl_secs)
    end
  else
    redis.call('HSET', mkey, 'referral_rewarded', 'no')
  end
end

-- Rewards the balance now reaches, the dearest first, at most 8 codes in one earn.
local issued = {}
if A.code_seed then
  for _, reward in ipairs(P.auto_rewards) do
    while balance >= reward.points and #issued < 8 do
      local code, expires_ms
      code, expires_ms, balance = issue_code(phone, reward, A.code_seed, A.receipt_ttl_secs,
        A.location, A.receipt)
      table.insert(issued, { code = code, reward = reward.id, expires_ms = expires_ms })
    end
  end
end

-- Automations this purchase triggers: a win-back `after` from now (a later visit moves it), and
-- a near-reward text once per reward cycle (a new cycle starts with each reward issued).
local automations = P.automations
if automations and automations.win_back then
  schedule('win_back|' .. phone .. '|', NOW_MS + automations.win_back.after_ms)
end
if automations and automations.near_reward and status == 'active' then
  local next_points
  for _, p in ipairs(P.reward_points) do
    if p > balance then
      next_points = p
      break
    end
  end
  if next_points and next_points - balance <= automations.near_reward.within then
    local cycle = redis.call('HGET', mkey, 'reward_cycle') or '0'
    if redis.call('HGET', mkey, 'near_reward_cycle') ~= cycle then
      redis.call('HSET', mkey, 'near_reward_cycle', cycle)
      schedule('near_reward|' .. phone .. '|' .. cycle, NOW_MS)
    end
  end
end

if text_kind == 'receipt' then
  enqueue(phone, 'transactional', 'earn', { points = points, balance = balance,
    location = A.location, rewards_issued = issued }, A.message_ttl_secs, message_id)
elseif text_kind == 'consent_request' then
  redis.call('HSET', mkey, 'consent_requested', '1')
  enqueue(phone, 'consent_request', 'confirm', { points = points, balance = balance },
    A.message_ttl_secs, message_id)
end

local result = member_summary(phone)
result.points = points
result.bonus_multiplier = bonus_multiplier
result.rewards_issued = issued
Receipts.store(A.location, A.receipt, { fp = string.sub(A.fingerprint, 1, 16), phone = phone,
  points = points, amount = A.amount, bal = result.balance, life = result.lifetime_points,
  tier = result.tier, st = result.status, lot = lot, bonus = bonus_multiplier,
  issued = #issued > 0 and cjson.encode(issued) or nil }, A.receipt_ttl_secs)
return reply_stored('ok', 'result', cjson.encode(result))
