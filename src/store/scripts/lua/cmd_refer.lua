-- REFER: an active member's own join word ("JOIN ANA7"), made once: up to four letters of the
-- first name (or FRIEND) and the program's referral counter, so it is unique and easy to type.
-- Without referrals in the program, or for a member not active, it is not a command.
if not P.referral or STATUS ~= 'active' then
  if STATUS == 'active' then reply_text('transactional', 'unknown', { balance = balance() }) end
  return done(STATUS == 'active' and 'unknown' or 'ignored')
end
local code = redis.call('HGET', MKEY, 'ref_code')
if not code then
  local letters = string.upper(string.gsub(redis.call('HGET', MKEY, 'first_name') or '',
    '[^%a]', ''))
  if letters == '' then letters = 'FRIEND' end
  code = string.sub(letters, 1, 4) .. next_id('referral')
  redis.call('HSET', MKEY, 'ref_code', code)
  redis.call('SET', K.referral(code), PHONE)
end
reply_text('transactional', 'refer', { join_word = A.join_word .. ' ' .. code,
  number = A.number, bonus_points = P.referral.bonus_points })
return done('referral_word')
