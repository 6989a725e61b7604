-- Read a member and their unused, unexpired reward codes in one round trip.
-- ARGV: 3 phone
local phone = ARGV[3]
local mkey = member_key(phone)
local flat = redis.call('HGETALL', mkey)
if #flat == 0 then return '' end
local member = {}
for i = 1, #flat, 2 do member[flat[i]] = flat[i + 1] end
for _, f in ipairs({ 'balance', 'lifetime', 'visits', 'joined_ms', 'last_visit_ms' }) do
  member[f] = tonumber(member[f])
end
local codes = {}
for _, code in ipairs(redis.call('SMEMBERS', mkey .. ':codes')) do
  local c = redis.call('HMGET', B .. 'code:' .. code, 'reward', 'status', 'expires_ms')
  if c[2] == 'unused' and tonumber(c[3]) > NOW_MS then
    table.insert(codes, { code = code, reward = c[1], expires_ms = tonumber(c[3]) })
  end
end
member.rewards = codes
return cjson.encode(member)
