-- A number's consent record, newest first: a member's own, or, for an erased number, the one
-- kept under its keyed hash. Arguments: store::scripts::ledger::Consent.
local standing = redis.call('HGET', K.member(A.phone), 'status')
local key = K.consent(A.phone)
if not standing then
  local erased = pseudonym(A.phone)
  if not erased or redis.call('EXISTS', K.erased_consent(erased)) == 0 then
    return reply({ status = 'not_found' })
  end
  standing, key = 'erased', K.erased_consent(erased)
end
local records = redis.call('LRANGE', key, 0, -1)
-- A member's newest record is in their hash (lib.lua's Compact).
local newest = standing ~= 'erased' and Compact.newest_consent(A.phone)
if newest then table.insert(records, 1, cjson.encode(newest)) end
return reply({ status = 'found', standing = standing, records = records })
