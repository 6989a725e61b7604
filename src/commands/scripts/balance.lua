-- BAL, BALANCE, POINTS: active members only (pending members get nothing until YES).
if STATUS ~= 'active' then return { 'ok', 'ignored' } end
reply('transactional', 'balance', { balance = balance() })
return { 'ok', 'balance' }
