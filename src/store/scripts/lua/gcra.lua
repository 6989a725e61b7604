-- Reserve `cells` (SMS segments) on a sending number's shared schedule (GCRA) and say how many
-- milliseconds the caller must wait before sending. Every process reserves on the same key, so
-- the number's rate holds however many senders there are. A text longer than the burst simply
-- waits longer. When the wait would exceed the caller's limit (it must not hold a claimed
-- message past the visibility timeout), nothing is reserved. Arguments: store::scripts::Reserve.
local key = K.rate(A.number)
local interval = A.interval_ms
local tat = tonumber(redis.call('GET', key) or '0')
if tat < NOW_MS then tat = NOW_MS end
local new_tat = tat + A.cells * interval
local wait = new_tat - A.burst * interval - NOW_MS
if wait < 0 then wait = 0 end
if wait > A.max_wait_ms then return reply({ status = 'too_far', wait_ms = math.ceil(wait) }) end
redis.call('SET', key, new_tat, 'PX', math.ceil(new_tat - NOW_MS) + 1000)
return reply({ status = 'reserved', wait_ms = math.ceil(wait) })
