-- REDEEM <reward>: spend the points now and text a single-use code for the till.
-- ARGV: 12 reward id ('' when unknown), 13 points, 14 valid days, 15 new code, 16 code ttl s
if STATUS ~= 'active' then return { 'ok', 'ignored' } end
local reward, cost, days, code = ARGV[12], tonumber(ARGV[13]), tonumber(ARGV[14]), ARGV[15]
if reward == '' then
  reply('transactional', 'rewards', { balance = balance(), codes = {} })
  return { 'ok', 'unknown_reward' }
end
local bal = balance()
if bal < cost then
  reply('transactional', 'balance', { balance = bal })
  return { 'ok', 'insufficient' }
end
local ckey = B .. 'code:' .. code
if redis.call('EXISTS', ckey) == 1 then
  -- A collision of random codes: release the claim so the caller can retry with another code.
  redis.call('DEL', B .. 'inbound:' .. MSG_ID)
  return { 'collision' }
end
bal = redis.call('HINCRBY', MKEY, 'balance', -cost)
local expires_ms = NOW_MS + days * 86400000
redis.call('HSET', ckey, 'code', code, 'phone', PHONE, 'reward', reward, 'points', cost,
  'status', 'unused', 'issued_at', NOW, 'expires_ms', expires_ms)
redis.call('PEXPIREAT', ckey, expires_ms + tonumber(ARGV[16]) * 1000)
redis.call('SADD', MKEY .. ':codes', code)
append_ledger(PHONE, { type = 'reward_issued', points = -cost, balance = bal, reward = reward,
  code = code })
stat('points:redeemed', cost)
stat('rewards:issued', 1)
reply('transactional', 'reward_issued', { reward = reward, code = code, expires_ms = expires_ms,
  balance = bal })
return { 'ok', 'redeemed' }
