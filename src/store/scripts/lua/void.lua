-- POS void of a redemption: undo what one redeem receipt did, once. Points spent on a reward
-- come back; a used code becomes usable again. A second void answers the first one's result.
-- Arguments: store::scripts::Void.
local rkey = K.redeem_receipt(A.location, A.receipt)
local rec = redis.call('HMGET', rkey, 'phone', 'response', 'void', 'lots')
if not rec[1] then return reply({ status = 'not_found' }) end
if rec[3] then return reply_stored('replay', 'result', rec[3]) end
local phone = rec[1]
local redeemed = cjson.decode(rec[2]).redeemed
local mkey = K.member(phone)
if redis.call('EXISTS', mkey) == 0 then return reply({ status = 'not_found' }) end

local balance = tonumber(redis.call('HGET', mkey, 'balance'))
local code = redeemed.code
if type(code) == 'string' then
  if redis.call('HGET', K.code(code), 'status') == 'used' then
    redis.call('HSET', K.code(code), 'status', 'unused')
    redis.call('HDEL', K.code(code), 'used_at', 'used_location', 'used_receipt')
    redis.call('SADD', K.codes(phone), code)
  end
  append_ledger(phone, { type = 'void', points = 0, balance = balance, reward = redeemed.reward,
    code = code, location = A.location, receipt = A.receipt })
  stat('rewards:redeemed', -1, A.location)
else
  balance = redis.call('HINCRBY', mkey, 'balance', redeemed.points)
  lots_restore(phone, rec[4])
  append_ledger(phone, { type = 'void', points = redeemed.points, balance = balance,
    reward = redeemed.reward, location = A.location, receipt = A.receipt })
  stat('points:redeemed', 0 - redeemed.points, A.location)
  stat('rewards:issued', -1, A.location)
  stat('rewards:redeemed', -1, A.location)
end

local result = member_summary(phone)
result.location = A.location
result.receipt = A.receipt
result.voided = redeemed
local response = cjson.encode(result)
redis.call('HSET', rkey, 'void', response)
return reply_stored('ok', 'result', response)
