-- STOP family: opt out at once and send exactly one confirmation. A number that never joined is
-- recorded as opted out too, so a later till enrolment never texts it.
if STATUS == 'opted_out' then return done('already_opted_out') end
if not STATUS then
  ensure_member(PHONE, 'sms', 'opted_out', A.program_locale)
  STATUS = 'opted_out'
end
opt_out(PHONE, STATUS, 'sms', A.text, A.provider_id)
-- Not subject to the reply cap: the confirmation is owed whatever else happened this hour.
enqueue(PHONE, 'optout_confirmation', 'stop', {}, A.message_ttl_secs)
return done('opted_out')
