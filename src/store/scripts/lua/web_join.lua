-- The public join form (src/web/join.rs). A number typed into a form is not consent: the
-- member is created `pending`, with channel `web` in their consent record, and asked once to
-- reply YES (double opt-in). What the page says next is the same whatever happened here, so it
-- never tells whether the number was a member. Limits, shared by every process: per client
-- address and per number, each at most A.limit_count in A.limit_window_ms. Arguments:
-- store::scripts::members::WebJoin.
if not within_rate(K.join_rate('ip:' .. A.client), A.limit_count, A.limit_window_ms) then
  return reply({ status = 'rate_limited' })
end
if not within_rate(K.join_rate('phone:' .. A.phone), A.limit_count, A.limit_window_ms) then
  return reply({ status = 'rate_limited' })
end
local phone = A.phone
local mkey = K.member(phone)
if not ensure_member(phone, 'web', 'pending', A.locale) then
  return reply({ status = 'ok', outcome = 'known' })
end
if A.first_name then redis.call('HSET', mkey, 'first_name', A.first_name) end
local suppressed = redis.call('HGET', mkey, 'status') == 'opted_out'
record_consent(phone, { action = suppressed and 'enrolled_suppressed' or 'enrolled_pending',
  channel = 'web', client = A.client })
if suppressed then return reply({ status = 'ok', outcome = 'suppressed' }) end
redis.call('HSET', mkey, 'consent_requested', '1')
enqueue(phone, 'consent_request', 'confirm', {}, A.message_ttl_secs)
return reply({ status = 'ok', outcome = 'asked' })
