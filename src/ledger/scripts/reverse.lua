-- POS reverse (refund): take back exactly what one earn receipt credited; idempotent.
-- The balance may go below zero here and only here (the points may already be spent).
-- ARGV: 3 location, 4 receipt, 5 tiers [[name, min]], 6 message ttl s
local location, receipt = ARGV[3], ARGV[4]
local tiers, msg_ttl = cjson.decode(ARGV[5]), tonumber(ARGV[6])

local rkey = B .. 'receipt:earn:' .. location .. ':' .. receipt
local rec = redis.call('HMGET', rkey, 'phone', 'points', 'reversal')
if not rec[1] then return { 'not_found', '' } end
if rec[3] then return { 'replay', rec[3] } end
local phone, points = rec[1], tonumber(rec[2])
local mkey = member_key(phone)
if redis.call('EXISTS', mkey) == 0 then return { 'not_found', '' } end

local message_id
if redis.call('HGET', mkey, 'status') == 'active' and points > 0 then
  message_id = new_message_id()
end
local balance = redis.call('HINCRBY', mkey, 'balance', -points)
local lifetime = redis.call('HINCRBY', mkey, 'lifetime', -points)
if lifetime < 0 then
  lifetime = 0
  redis.call('HSET', mkey, 'lifetime', 0)
end
redis.call('HSET', mkey, 'tier', tiers[tier_index(tiers, lifetime)][1])
append_ledger(phone, { type = 'reverse', points = -points, balance = balance,
  location = location, receipt = receipt, message_id = message_id })
stat('points:issued', -points, location)
stat('points:reversed', points, location)

local result = member_summary(phone)
result.points = -points
result.receipt = receipt
result.location = location
if message_id then
  enqueue(phone, 'transactional', 'reverse', { points = points, balance = balance }, msg_ttl,
    message_id)
end
local response = cjson.encode(result)
redis.call('HSET', rkey, 'reversal', response)
return { 'ok', response }
