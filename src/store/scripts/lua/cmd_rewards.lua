-- REWARDS: the catalogue and the member's unused codes.
if STATUS ~= 'active' then return done('ignored') end
reply_text('transactional', 'rewards', { balance = balance(), codes = unused_codes(PHONE) })
return done('rewards')
