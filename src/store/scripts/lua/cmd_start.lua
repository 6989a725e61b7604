-- START, UNSTOP, YES: opt back in, or confirm a till enrolment.
if STATUS == 'active' then
  reply_text('transactional', 'start', { balance = balance() })
  return done('already_active')
end
local was = STATUS
local awarded = activate()
if was == 'opted_out' then
  reply_text('transactional', 'start', { balance = balance() })
else
  reply_text('transactional', 'welcome', { welcome_points = awarded, balance = balance() })
end
return done('activated')
