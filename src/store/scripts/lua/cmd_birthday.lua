-- BDAY MM-DD: an active member's birthday, and the birthday automation scheduled for the start
-- of its week (birthday_due in lib.lua). Without the automation it is not a command.
local birthday = P.automations and P.automations.birthday
if STATUS ~= 'active' or not birthday then
  if STATUS == 'active' then reply_text('transactional', 'unknown', { balance = balance() }) end
  return done(STATUS == 'active' and 'unknown' or 'ignored')
end
redis.call('HSET', MKEY, 'birthday', A.birthday)
schedule_birthday(PHONE, A.birthday, tonumber(redis.call('HGET', MKEY, 'birthday_year') or '0'))
reply_text('transactional', 'bday', { birthday = A.birthday, balance = balance() })
return done('birthday')
