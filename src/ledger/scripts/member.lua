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
member.rewards = unused_codes(phone)
return cjson.encode(member)
