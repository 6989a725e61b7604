-- POS redeem: spend points on a reward, or use a reward code; idempotent on (location,
-- receipt). Arguments: store::scripts::Redeem.
local rkey = K.redeem_receipt(A.location, A.receipt)
local answered = prior_answer(rkey, A.fingerprint)
if answered then return answered end

local phone = A.phone
local mkey = K.member(phone)
if redis.call('EXISTS', mkey) == 0 then return reply({ status = 'member_not_found' }) end
local balance = tonumber(redis.call('HGET', mkey, 'balance'))
if balance < 0 then return reply({ status = 'negative_balance', balance = balance }) end

local message_id
if redis.call('HGET', mkey, 'status') == 'active' then message_id = new_message_id() end

local redeemed, lots_taken
if A.reward then
  local cost = A.reward.points
  if balance < cost then return reply({ status = 'insufficient', balance = balance }) end
  balance = redis.call('HINCRBY', mkey, 'balance', 0 - cost)
  lots_taken = lots_take(phone, cost)
  append_ledger(phone, { type = 'redeem', points = 0 - cost, balance = balance,
    reward = A.reward.id, location = A.location, receipt = A.receipt, message_id = message_id })
  stat('points:redeemed', cost, A.location)
  stat('rewards:issued', 1, A.location)
  stat('rewards:redeemed', 1, A.location)
  redis.call('HINCRBY', mkey, 'reward_cycle', 1)
  emit('points.redeemed', phone, { points = cost, balance = balance, reward = A.reward.id,
    location = A.location, receipt = A.receipt })
  redeemed = { reward = A.reward.id, points = cost }
else
  local c = redis.call('HMGET', K.code(A.code), 'phone', 'reward', 'status', 'expires_ms')
  if not c[1] then return reply({ status = 'code_not_found' }) end
  if c[1] ~= phone then return reply({ status = 'code_not_owned' }) end
  if c[3] ~= 'unused' then return reply({ status = 'code_used' }) end
  if tonumber(c[4]) <= NOW_MS then return reply({ status = 'code_expired' }) end
  redis.call('HSET', K.code(A.code), 'status', 'used', 'used_at', NOW, 'used_location',
    A.location, 'used_receipt', A.receipt)
  redis.call('SREM', K.codes(phone), A.code)
  append_ledger(phone, { type = 'redeem', points = 0, balance = balance, reward = c[2],
    code = A.code, location = A.location, receipt = A.receipt, message_id = message_id })
  stat('rewards:redeemed', 1, A.location)
  redeemed = { reward = c[2], code = A.code, points = 0 }
end

attribute(phone, 'redemptions')
emit('reward.redeemed', phone, { reward = redeemed.reward, points = redeemed.points,
  balance = balance, location = A.location, receipt = A.receipt })
local result = member_summary(phone)
result.redeemed = redeemed
if message_id then
  enqueue(phone, 'transactional', 'redeem', { reward = redeemed.reward, balance = balance },
    A.message_ttl_secs, message_id)
end
local response = cjson.encode(result)
store_receipt(rkey, A.fingerprint, response, A.receipt_ttl_secs,
  { phone = phone, lots = lots_taken })
return reply_stored('ok', 'result', response)
