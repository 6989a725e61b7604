-- STOP family: opt out at once and send exactly one confirmation. A number that never joined is
-- recorded as opted out too, so a later till enrolment never texts it.
if STATUS == 'opted_out' then return { 'ok', 'already_opted_out' } end
if not STATUS then
  ensure_member(PHONE, 'sms', 'opted_out', PROGRAM_LOCALE)
else
  set_status(PHONE, STATUS, 'opted_out')
end
redis.call('HSET', MKEY, 'opted_out_at', NOW)
consent('opt_out')
-- Not subject to the reply cap: the confirmation is owed whatever else happened this hour.
enqueue(PHONE, 'optout_confirmation', 'stop', {}, MSG_TTL)
return { 'ok', 'opted_out' }
