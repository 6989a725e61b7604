-- JOIN and the program's join keywords: enrol (or re-activate) and welcome.
if STATUS == 'active' then
  reply_text('transactional', 'balance', { balance = balance() })
  return done('already_active')
end
local awarded = activate()
reply_text('transactional', 'welcome', { welcome_points = awarded, balance = balance() })
return done('joined')
