-- Reserve cells (SMS segments) on a sending number's shared schedule (GCRA) for a batch of
-- texts, in order, and say how many milliseconds each must wait before it is sent. Every process
-- reserves on the same key, so the number's rate holds however many senders there are. A text
-- longer than the burst simply waits longer. Once a text's wait would exceed the caller's limit
-- (it must not hold a claimed message past the visibility timeout), nothing more is reserved:
-- that text and the ones after it are answered `too_far`. Arguments: store::scripts::Reserve.
local key = K.rate(A.number)
local interval = A.interval_ms
local tat = tonumber(redis.call('GET', key) or '0')
if tat < NOW_MS then tat = NOW_MS end
local waits, full, reserved = {}, nil, false
for i, cells in ipairs(A.cells) do
  local new_tat = tat + cells * interval
  local wait = new_tat - A.burst * interval - NOW_MS
  if wait < 0 then wait = 0 end
  if full or wait > A.max_wait_ms then
    full = full or math.ceil(wait)
    waits[i] = { status = 'too_far', wait_ms = full }
  else
    tat, reserved = new_tat, true
    waits[i] = { status = 'reserved', wait_ms = math.ceil(wait) }
  end
end
if reserved then redis.call('SET', key, tat, 'PX', math.ceil(tat - NOW_MS) + 1000) end
return reply({ status = 'reserved', waits = waits })
