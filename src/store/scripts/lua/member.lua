-- A member and their unused, unexpired reward codes, in one round trip.
-- Arguments: store::scripts::Member.
local flat = redis.call('HGETALL', K.member(A.phone))
if #flat == 0 then return reply({ status = 'not_found' }) end
local member = {}
for i = 1, #flat, 2 do member[flat[i]] = flat[i + 1] end
for _, f in ipairs({ 'balance', 'lifetime', 'visits', 'joined_ms', 'last_visit_ms' }) do
  member[f] = tonumber(member[f])
end
member.rewards = unused_codes(A.phone)
return reply({ status = 'found', member = member })
