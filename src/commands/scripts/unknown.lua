-- Anything else: members get a pointer to the keywords; others get nothing.
if STATUS ~= 'active' then return { 'ok', 'ignored' } end
reply('transactional', 'unknown', { balance = balance() })
return { 'ok', 'unknown' }
