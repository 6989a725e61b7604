-- POS earn: credit a purchase, auto-issue rewards, enqueue the receipt text; idempotent on
-- (location, receipt). Arguments: store::scripts::Earn.
-- The receipt keeps what the answer is made of rather than the answer: a replay rebuilds it
-- (lib.lua's Receipts says where it is kept). The fingerprint's first 64 bits tell a replay
-- from a conflict.

-- The answer to an earn and to its replays: the member after it (as member_summary reads
-- them), the points it credited, its bonus multiplier and the codes it issued (`issued`, JSON).
-- Put together here from texts: a table built for cjson.encode cost more than some of the
-- writes, and the figures (`points`, `balance`, `lifetime`, as int() makes them) are the texts
-- the earn has already written. Of the strings, only the tier (configured) may need escaping;
-- the phone is E.164 and the status one of three words.
local function answer(status, phone, points, balance, lifetime, tier, member_status, bonus,
    issued)
  return '{"status":"' .. status .. '","result":{"phone":"' .. phone .. '","points":' .. points
    .. ',"balance":' .. balance .. ',"lifetime_points":' .. lifetime .. ',"tier":'
    .. json_text(tier) .. ',"status":"' .. member_status .. '",'
    .. (bonus and string.format('"bonus_multiplier":%.14g,', bonus) or '')
    .. '"rewards_issued":' .. (issued or '[]') .. '}}'
end

Receipts.hashed(A.location .. ':' .. A.receipt, A.receipt_hash)
local r = Receipts.find(A.location, A.receipt)
if r then
  if r.fp ~= string.sub(A.fingerprint, 1, #r.fp) then return reply({ status = 'conflict' }) end
  -- Receipts written before answers were rebuilt hold theirs whole.
  if r.response then return reply_stored('replay', 'result', r.response) end
  return answer('replay', r.phone, int(r.points), int(r.bal), int(r.life),
    r.tier or tier_name(r.life), r.st, tonumber(r.bonus), r.issued)
end

local phone = A.phone
local mkey = K.member(phone)
-- What the earn reads of the member, in one read: each redis.call costs more than the fields
-- it reads. But not a field it may not need: Redis finds a field by reading the member's
-- hash from its start, and one it lacks only at its end. So the first name only when the till
-- sent one. (A campaign's touch is read here too, with whether the touch has had its first
-- visit: reading them only when a touch is in force would cost the members a campaign touched
-- a command of their own.)
local FIELDS = { 'balance', 'lifetime', 'visits', 'status', 'consent_requested', 'tier',
  'touch_campaign', 'touch_group', 'touch_until_ms', 'touch_visited', 'loc:' .. A.location,
  A.first_name and 'first_name' or nil }
local m = redis.call('HMGET', mkey, unpack(FIELDS))
-- Every member has a balance; without one the member is new.
if not m[1] then
  if ensure_member(phone, 'pos', 'pending', A.locale) then
    -- A number typed at a till is not consent; the record says so, and the member stays
    -- pending (opted out, if the number was erased: see ensure_member).
    local suppressed = redis.call('HGET', mkey, 'status') == 'opted_out'
    record_consent(phone, { action = suppressed and 'enrolled_suppressed' or 'enrolled_pending',
      channel = 'pos', location = A.location, receipt = A.receipt })
  end
  m = redis.call('HMGET', mkey, unpack(FIELDS))
end

-- Whether this earn texts the member is known now (the status does not change below), so the
-- text's id can go into the ledger entry.
local status = m[4]
local text_kind
if status == 'active' then
  text_kind = 'receipt'
elseif status == 'pending' and m[5] ~= '1' then
  text_kind = 'consent_request'
end
local message_id = text_kind and new_message_id() or nil

local lifetime_before = tonumber(m[2])
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
local balance = tonumber(m[1]) + points
local lifetime = lifetime_before + points
local visits = tonumber(m[3]) + 1
local tier = tier_name(lifetime)
-- The member fields this earn sets, written by the HSET of its history entry; the tier and
-- the location only when they change (every write is also written to the append-only file).
-- The locations a member visited are fields of their hash (`loc:<id>`): a key of its own per
-- member cost more than the member's record.
local points_text, balance_text, lifetime_text = int(points), int(balance), int(lifetime)
local written_balance, written_lifetime = balance, lifetime
local writes = { 'balance', balance_text, 'lifetime', lifetime_text, 'visits', int(visits),
  'last_visit_ms', NOW_MS_TEXT }
if not m[11] then
  writes[#writes + 1] = FIELDS[11]
  writes[#writes + 1] = '1'
end
if tier ~= m[6] then
  writes[#writes + 1] = 'tier'
  writes[#writes + 1] = tier
end
if A.first_name and not m[12] then
  writes[#writes + 1] = 'first_name'
  writes[#writes + 1] = A.first_name
end
if m[7] then attribute_visit(A.amount, points_text, { m[7], m[8], m[9], m[10] }, writes) end
-- The member's hash is counted (to move its history out at Compact.INLINE fields) every 8th
-- visit, not at every one: between two counts it grows by at most 7 entries past INLINE, well
-- inside Redis's compact encoding (128 fields), and a purchase saves a command.
local lot = append_ledger(phone, nil, writes, visits % 8 ~= 0, Compact.pack_earn(points,
  balance, A.amount, A.location, A.receipt, A.tender, bonus_multiplier, message_id))
lots_add(phone, points, lot)
stat('points:issued', points_text, A.location)
stat('visits', 1, A.location)
if #endpoints() > 0 then
  emit('points.earned', phone, { points = points, balance = balance, amount = A.amount,
    location = A.location, receipt = A.receipt, tender = A.tender, source = 'purchase' })
end
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
    lifetime = lifetime + bonus
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

tier = tier_name(lifetime)
local issued_json = #issued > 0 and cjson.encode(issued) or nil
Receipts.store(A.location, A.receipt, { fp = string.sub(A.fingerprint, 1, 16), phone = phone,
  points = points, amount = A.amount, bal = balance, life = lifetime, tier = tier, st = status,
  lot = lot, bonus = bonus_multiplier, issued = issued_json }, A.receipt_ttl_secs)
return answer('ok', phone, points_text,
  balance == written_balance and balance_text or int(balance),
  lifetime == written_lifetime and lifetime_text or int(lifetime), tier, status,
  bonus_multiplier, issued_json)
