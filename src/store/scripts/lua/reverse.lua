-- POS reverse (refund): take back what one earn receipt credited, all of what is left or the
-- share of a partial refund. Each refund is keyed (refund_id, or 'rest' for "the rest"), so a
-- replay of one refund changes nothing. The balance may go below zero here and only here (the
-- points may already be spent). Arguments: store::scripts::Reverse.
-- A refunded receipt keeps its refunds in a key of its own (lib.lua's Receipts).
local rkey = Receipts.own(A.location, A.receipt)
if not rkey then return reply({ status = 'not_found' }) end
local refund_field = 'refund:' .. A.refund_id
local rec = redis.call('HMGET', rkey, 'phone', 'points', 'amount', 'refunded', 'reversed',
  refund_field, 'lot')
if not rec[1] then return reply({ status = 'not_found' }) end
if rec[6] then
  local sep = string.find(rec[6], '\n', 1, true)
  if string.sub(rec[6], 1, sep - 1) == A.fingerprint then
    return reply_stored('replay', 'result', string.sub(rec[6], sep + 1))
  end
  return reply({ status = 'conflict' })
end
local phone, points = rec[1], tonumber(rec[2])
local amount = tonumber(rec[3])
local refunded, reversed = tonumber(rec[4] or '0'), tonumber(rec[5] or '0')
local mkey = K.member(phone)
if redis.call('EXISTS', mkey) == 0 then return reply({ status = 'not_found' }) end
if reversed >= points and (not amount or refunded >= amount) then
  return reply({ status = 'nothing_left' })
end

-- Points taken back so far are floor(points * refunded / amount), computed exactly (Lua numbers
-- are doubles), so partial refunds never drift: the last one takes back exactly what is left.
local refund, reversed_after
if not A.amount then
  refund = amount and (amount - refunded) or 0
  reversed_after = points
elseif not amount then
  return reply({ status = 'no_amount' })
else
  refund = A.amount
  local left = amount - refunded
  if refund > left then return reply({ status = 'exceeds', left = left }) end
  local after = refunded + refund
  if after == amount then
    reversed_after = points
  else
    local q = idiv(points, amount)
    reversed_after = q * after + idiv((points - q * amount) * after, amount)
  end
end
-- `0 - taken`, never `-taken`: Lua's -0 reaches Redis as "-0", which HINCRBY refuses.
local taken = reversed_after - reversed

local message_id
if redis.call('HGET', mkey, 'status') == 'active' and taken > 0 then
  message_id = new_message_id()
end
local balance = redis.call('HINCRBY', mkey, 'balance', 0 - taken)
lots_take(phone, taken, rec[7])
local lifetime = redis.call('HINCRBY', mkey, 'lifetime', 0 - taken)
if lifetime < 0 then
  lifetime = 0
  redis.call('HSET', mkey, 'lifetime', 0)
end
redis.call('HSET', mkey, 'tier', tier_name(lifetime))
append_ledger(phone, { type = 'reverse', points = 0 - taken, balance = balance, amount = refund,
  location = A.location, receipt = A.receipt, refund_id = A.refund_id, message_id = message_id })
stat('points:issued', 0 - taken, A.location)
stat('points:reversed', taken, A.location)
emit('points.reversed', phone, { points = taken, balance = balance, amount = refund,
  location = A.location, receipt = A.receipt, refund_id = A.refund_id })

local result = member_summary(phone)
result.points = 0 - taken
result.receipt = A.receipt
result.location = A.location
result.refund_id = A.refund_id
result.amount = refund
result.refunded = refunded + refund
result.remaining = amount and (amount - refunded - refund) or 0
if message_id then
  enqueue(phone, 'transactional', 'reverse', { points = taken, balance = balance },
    A.message_ttl_secs, message_id)
end
local response = cjson.encode(result)
redis.call('HSET', rkey, 'refunded', refunded + refund, 'reversed', reversed_after,
  refund_field, A.fingerprint .. '\n' .. response)
return reply_stored('ok', 'result', response)
