-- Admin adjustment: a signed change to a member's balance, with the reason and the acting key's
-- name in history. A deduction takes the balance below zero only with allow_negative (an
-- addition to a balance already below zero, after a refund, is always allowed). Lifetime points (and
-- so the tier) count purchases and are left alone. With an idempotency key, a retry answers the
-- first result. Arguments: store::scripts::ledger::Adjust.
local rkey = A.idempotency_key and K.adjust_receipt(A.idempotency_key)
if rkey then
  local answered = prior_answer(rkey, A.fingerprint)
  if answered then return answered end
end
local mkey = K.member(A.phone)
if redis.call('EXISTS', mkey) == 0 then return reply({ status = 'member_not_found' }) end
local balance = tonumber(redis.call('HGET', mkey, 'balance'))
if A.points < 0 and balance + A.points < 0 and not A.allow_negative then
  return reply({ status = 'insufficient', balance = balance })
end
balance = redis.call('HINCRBY', mkey, 'balance', A.points)
local entry = append_ledger(A.phone, { type = 'adjust', points = A.points, balance = balance,
  reason = A.reason, by = A.by })
if A.points > 0 then lots_add(A.phone, A.points, entry) else lots_take(A.phone, 0 - A.points) end
stat('points:adjusted', A.points)
local response = cjson.encode(member_summary(A.phone))
if rkey then store_receipt(rkey, A.fingerprint, response, A.receipt_ttl_secs, {}) end
return reply_stored('ok', 'result', response)
