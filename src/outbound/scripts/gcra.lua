-- Reserve `cells` (SMS segments) on a sending number's shared schedule (GCRA) and return how
-- many milliseconds the caller must wait before sending. Every process reserves on the same
-- key, so the number's rate holds however many senders there are. A text longer than the burst
-- simply waits longer. When the wait would exceed the caller's limit (it must not hold a claimed
-- message past the visibility timeout), nothing is reserved and the wait is returned negated.
-- ARGV: 3 sending number, 4 emission interval ms (one cell), 5 burst (cells), 6 cells,
--       7 longest acceptable wait ms
local key = B .. 'rate:' .. ARGV[3]
local interval, burst, cells = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local tat = tonumber(redis.call('GET', key) or '0')
if tat < NOW_MS then tat = NOW_MS end
local new_tat = tat + cells * interval
local wait = new_tat - burst * interval - NOW_MS
if wait < 0 then wait = 0 end
if wait > tonumber(ARGV[7]) then return -math.ceil(wait) end
redis.call('SET', key, new_tat, 'PX', math.ceil(new_tat - NOW_MS) + 1000)
return math.ceil(wait)
