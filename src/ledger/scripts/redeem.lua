-- POS redeem: spend points on a reward, or use a reward code; idempotent on (location, receipt).
-- ARGV: 3 fingerprint, 4 phone, 5 location, 6 receipt, 7 mode ('reward' | 'code'),
--       8 reward id, 9 reward points, 10 code, 11 receipt ttl s, 12 message ttl s
local fp, phone, location, receipt, mode = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local receipt_ttl, msg_ttl = tonumber(ARGV[11]), tonumber(ARGV[12])

local rkey = B .. 'receipt:redeem:' .. location .. ':' .. receipt
local answered = prior_answer(rkey, fp)
if answered then return answered end

local mkey = member_key(phone)
if redis.call('EXISTS', mkey) == 0 then return { 'member_not_found', '' } end
local balance = tonumber(redis.call('HGET', mkey, 'balance'))
if balance < 0 then return { 'negative_balance', tostring(balance) } end

local message_id
if redis.call('HGET', mkey, 'status') == 'active' then message_id = new_message_id() end

local redeemed
if mode == 'reward' then
  local reward, cost = ARGV[8], tonumber(ARGV[9])
  if balance < cost then return { 'insufficient', tostring(balance) } end
  balance = redis.call('HINCRBY', mkey, 'balance', -cost)
  append_ledger(phone, { type = 'redeem', points = -cost, balance = balance, reward = reward,
    location = location, receipt = receipt, message_id = message_id })
  stat('points:redeemed', cost, location)
  stat('rewards:issued', 1, location)
  stat('rewards:redeemed', 1, location)
  redeemed = { reward = reward, points = cost }
else
  local code = ARGV[10]
  local ckey = B .. 'code:' .. code
  local c = redis.call('HMGET', ckey, 'phone', 'reward', 'status', 'expires_ms')
  if not c[1] then return { 'code_not_found', '' } end
  if c[1] ~= phone then return { 'code_not_owned', '' } end
  if c[3] ~= 'unused' then return { 'code_used', '' } end
  if tonumber(c[4]) <= NOW_MS then return { 'code_expired', '' } end
  redis.call('HSET', ckey, 'status', 'used', 'used_at', NOW, 'used_location', location,
    'used_receipt', receipt)
  redis.call('SREM', mkey .. ':codes', code)
  append_ledger(phone, { type = 'redeem', points = 0, balance = balance, reward = c[2],
    code = code, location = location, receipt = receipt, message_id = message_id })
  stat('rewards:redeemed', 1, location)
  redeemed = { reward = c[2], code = code, points = 0 }
end

local result = member_summary(phone)
result.redeemed = redeemed
if message_id then
  enqueue(phone, 'transactional', 'redeem', { reward = redeemed.reward, balance = balance },
    msg_ttl, message_id)
end
local response = cjson.encode(result)
redis.call('HSET', rkey, 'fp', fp, 'response', response, 'phone', phone, 'at', NOW)
redis.call('EXPIRE', rkey, receipt_ttl)
return { 'ok', response }
