-- A delivery status from the provider (Twilio status callback, Telnyx message event).
-- Statuses arrive out of order; a message never moves backwards (delivered stays delivered),
-- and the first final status wins.
-- ARGV: 3 provider message id, 4 status, 5 error code
local id = redis.call('GET', B .. 'sid:' .. ARGV[3])
if not id then return 'unknown' end
local key = B .. 'msg:' .. id
local rank = { queued = 0, accepted = 0, scheduled = 0, sending = 1, sent = 2,
  delivered = 3, undelivered = 3, failed = 3, canceled = 3, read = 4 }
local new = ARGV[4]
if not rank[new] then return 'ignored' end
local current = redis.call('HGET', key, 'status')
if current and rank[current] and rank[new] <= rank[current] then return 'stale' end
redis.call('HSET', key, 'status', new, 'updated_at', NOW)
if ARGV[5] ~= '' then redis.call('HSET', key, 'error_code', ARGV[5]) end
if new == 'delivered' then redis.call('HSET', key, 'delivered_at', NOW) end
return 'updated'
