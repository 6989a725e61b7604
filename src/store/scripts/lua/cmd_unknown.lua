-- Anything else: members get a pointer to the keywords; others get nothing.
if STATUS ~= 'active' then return done('ignored') end
reply_text('transactional', 'unknown', { balance = balance() })
return done('unknown')
