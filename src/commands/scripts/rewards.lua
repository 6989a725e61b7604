-- REWARDS: the catalogue and the member's unused codes.
if STATUS ~= 'active' then return { 'ok', 'ignored' } end
local codes = {}
for _, code in ipairs(redis.call('SMEMBERS', MKEY .. ':codes')) do
  local c = redis.call('HMGET', B .. 'code:' .. code, 'reward', 'status', 'expires_ms')
  if c[2] == 'unused' and tonumber(c[3]) > NOW_MS then
    table.insert(codes, { code = code, reward = c[1], expires_ms = tonumber(c[3]) })
  end
end
reply('transactional', 'rewards', { balance = balance(), codes = codes })
return { 'ok', 'rewards' }
