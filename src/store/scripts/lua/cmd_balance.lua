-- BAL, BALANCE, POINTS: active members only (pending members get nothing until YES).
if STATUS ~= 'active' then return done('ignored') end
reply_text('transactional', 'balance', { balance = balance() })
return done('balance')
