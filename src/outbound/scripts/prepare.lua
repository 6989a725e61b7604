-- Claim a message for sending and apply the send-time rules; atomic with the member's status,
-- so a STOP that lands between enqueue and send is always honoured.
-- ARGV: 3 message id, 4 stream entry id
local id, entry = ARGV[3], ARGV[4]
local key = B .. 'msg:' .. id
local m = redis.call('HMGET', key, 'to', 'kind', 'template', 'vars', 'status', 'attempts', 'body')
local function done()
  redis.call('XACK', B .. 'outbox', 'senders', entry)
  redis.call('XDEL', B .. 'outbox', entry)
end
if not m[1] then done(); return { 'gone' } end
if m[5] == 'sent' or m[5] == 'delivered' or m[5] == 'suppressed' or m[5] == 'failed' then
  done(); return { 'gone' }
end
local to, kind = m[1], m[2]
local member = redis.call('HMGET', member_key(to), 'status', 'locale', 'first_name')
local status = member[1]
-- Who may receive what:
--   optout_confirmation: anyone (the one text after STOP).
--   reply_any (HELP):   anyone, opted out or not (CTIA: HELP is always answered).
--   consent_request:    pending members.
--   everything else:    active members only.
local allowed
if kind == 'optout_confirmation' or kind == 'reply_any' then
  allowed = true
elseif status == 'opted_out' then
  allowed = false
elseif kind == 'consent_request' then
  allowed = (status == 'pending')
else
  allowed = (status == 'active')
end
if not allowed then
  redis.call('HSET', key, 'status', 'suppressed', 'updated_at', NOW,
    'error', 'member status ' .. tostring(status))
  done()
  return { 'suppressed', tostring(status) }
end
local attempts = redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', key, 'status', 'sending', 'updated_at', NOW)
return { 'send', to, kind, m[3], m[4], tostring(attempts), member[2] or '', member[3] or '',
  m[7] or '' }
