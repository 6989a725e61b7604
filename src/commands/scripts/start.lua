-- START, UNSTOP, YES: opt back in, or confirm a till enrolment.
if STATUS == 'active' then
  reply('transactional', 'start', { balance = balance() })
  return { 'ok', 'already_active' }
end
local was = STATUS
local awarded = activate()
if was == 'opted_out' then
  reply('transactional', 'start', { balance = balance() })
else
  reply('transactional', 'welcome', { welcome_points = awarded, balance = balance() })
end
return { 'ok', 'activated' }
