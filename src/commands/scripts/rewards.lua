-- REWARDS: the catalogue and the member's unused codes.
if STATUS ~= 'active' then return { 'ok', 'ignored' } end
reply('transactional', 'rewards', { balance = balance(), codes = unused_codes(PHONE) })
return { 'ok', 'rewards' }
