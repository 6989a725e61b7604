-- A member and their unused, unexpired reward codes, in one round trip.
-- Arguments: store::scripts::Member.
local flat = redis.call('HGETALL', K.member(A.phone))
if #flat == 0 then return reply({ status = 'not_found' }) end
local member = {}
-- Not the history entries and consent record the hash also holds (lib.lua's Compact).
for i = 1, #flat, 2 do
  local name = flat[i]
  if name ~= 'consent' and not string.match(name, '^%d+$') then member[name] = flat[i + 1] end
end
for _, f in ipairs({ 'balance', 'lifetime', 'visits', 'joined_ms', 'last_visit_ms' }) do
  member[f] = tonumber(member[f])
end
-- Members since the compact record keep no number (it is the key's) and their times only in
-- milliseconds; earlier members keep both.
member.phone = A.phone
member.joined_at = member.joined_at or Compact.iso(member.joined_ms)
member.last_visit_at = member.last_visit_at
  or (member.last_visit_ms and Compact.iso(member.last_visit_ms))
member.rewards = unused_codes(A.phone)
return reply({ status = 'found', member = member })
