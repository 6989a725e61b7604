-- POS void of a redemption: undo what one redeem receipt did, once. Points spent on a reward
-- come back; a used code becomes usable again. A second void answers the first one's result.
-- ARGV: 3 location, 4 receipt
local location, receipt = ARGV[3], ARGV[4]
local rkey = B .. 'receipt:redeem:' .. location .. ':' .. receipt
local rec = redis.call('HMGET', rkey, 'phone', 'response', 'void')
if not rec[1] then return { 'not_found', '' } end
if rec[3] then return { 'replay', rec[3] } end
local phone = rec[1]
local redeemed = cjson.decode(rec[2]).redeemed
local mkey = member_key(phone)
if redis.call('EXISTS', mkey) == 0 then return { 'not_found', '' } end

local balance = tonumber(redis.call('HGET', mkey, 'balance'))
local code = redeemed.code
if type(code) == 'string' then
  local ckey = B .. 'code:' .. code
  if redis.call('HGET', ckey, 'status') == 'used' then
    redis.call('HSET', ckey, 'status', 'unused')
    redis.call('HDEL', ckey, 'used_at', 'used_location', 'used_receipt')
    redis.call('SADD', mkey .. ':codes', code)
  end
  append_ledger(phone, { type = 'void', points = 0, balance = balance, reward = redeemed.reward,
    code = code, location = location, receipt = receipt })
  stat('rewards:redeemed', -1, location)
else
  balance = redis.call('HINCRBY', mkey, 'balance', redeemed.points)
  append_ledger(phone, { type = 'void', points = redeemed.points, balance = balance,
    reward = redeemed.reward, location = location, receipt = receipt })
  stat('points:redeemed', -redeemed.points, location)
  stat('rewards:issued', -1, location)
  stat('rewards:redeemed', -1, location)
end

local result = member_summary(phone)
result.location = location
result.receipt = receipt
result.voided = redeemed
local response = cjson.encode(result)
redis.call('HSET', rkey, 'void', response)
return { 'ok', response }
