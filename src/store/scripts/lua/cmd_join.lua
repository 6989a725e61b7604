-- JOIN and the program's join keywords: enrol (or re-activate) and welcome. "JOIN ANA7" from a
-- number never seen before (neither a member nor an erased one) links the new member to the
-- member whose join word it is, for the referral bonus at the first purchase (earn.lua).
if STATUS == 'active' then
  reply_text('transactional', 'balance', { balance = balance() })
  return done('already_active')
end
-- The link is the word, not the referrer's number, so erasing the referrer leaves no trace here.
local referred
if A.referral and P.referral and not STATUS and not is_suppressed(PHONE) then
  referred = redis.call('GET', K.referral(A.referral))
end
local awarded = activate()
if referred and referred ~= PHONE then redis.call('HSET', MKEY, 'referred_by', A.referral) end
reply_text('transactional', 'welcome', { welcome_points = awarded, balance = balance() })
return done('joined')
