-- Resume a paused campaign: it goes back to what it was doing (queueing, or done queueing), and
-- the texts held while it was paused are due again at once. Arguments:
-- store::scripts::campaigns::ResumeCampaign.
local key = K.campaign(A.id)
local c = redis.call('HMGET', key, 'status', 'paused_from')
if not c[1] then return reply({ status = 'not_found' }) end
if c[1] ~= 'paused' then return reply({ status = 'not_paused', current = c[1] }) end
local resumed = c[2] or 'sending'
redis.call('HSET', key, 'status', resumed, 'resumed_at', NOW)
redis.call('HDEL', key, 'paused_from', 'paused_reason', 'paused_at')
if resumed == 'sending' then redis.call('SADD', K.active_campaigns(), A.id) end
local held = redis.call('ZRANGE', K.held(A.id), 0, -1)
for _, id in ipairs(held) do redis.call('ZADD', K.delayed(), NOW_MS, id) end
redis.call('DEL', K.held(A.id))
return reply({ status = 'resumed', released = #held })
