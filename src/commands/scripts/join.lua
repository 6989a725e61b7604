-- JOIN and the program's join keywords: enrol (or re-activate) and welcome.
if STATUS == 'active' then
  reply('transactional', 'balance', { balance = balance() })
  return { 'ok', 'already_active' }
end
local awarded = activate()
reply('transactional', 'welcome', { welcome_points = awarded, balance = balance() })
return { 'ok', 'joined' }
