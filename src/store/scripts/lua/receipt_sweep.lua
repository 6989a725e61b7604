-- Forgets the earn receipts kept past their retention (lib.lua's Receipts): a bucket's field
-- has no expiry of its own, so one pass a day reads every bucket and deletes the fields whose
-- day has come, at most A.buckets buckets a call. Where the pass is, and the day of the last
-- complete one, are kept in `receipts`, so the serve processes share the pass; a bucket swept
-- twice (a split moved fields behind the cursor) or once late (the next day) is harmless.
-- Arguments: store::scripts::ledger::SweepReceipts.
local index = K.receipt_index()
local today = math.floor(NOW_MS / 86400000)
local meta = redis.call('HMGET', index, 'level', 'split', 'swept_day', 'sweep_cursor')
if tonumber(meta[3] or '-1') >= today then return reply({ status = 'idle' }) end
local buckets = 2 ^ tonumber(meta[1] or '0') + tonumber(meta[2] or '0')
local cursor = tonumber(meta[4] or '0')
local removed = 0
for _ = 1, A.buckets do
  if cursor >= buckets then break end
  local key = K.receipt_bucket(cursor)
  local flat = redis.call('HGETALL', key)
  local old = {}
  for i = 1, #flat, 2 do
    if struct.unpack('<H', flat[i + 1]) <= today then old[#old + 1] = flat[i] end
  end
  if #old > 0 then
    redis.call('HDEL', key, unpack(old))
    removed = removed + #old
  end
  cursor = cursor + 1
end
if removed > 0 then redis.call('HINCRBY', index, 'count', 0 - removed) end
if cursor >= buckets then
  redis.call('HSET', index, 'swept_day', today, 'sweep_cursor', 0)
  return reply({ status = 'done', removed = removed })
end
redis.call('HSET', index, 'sweep_cursor', cursor)
return reply({ status = 'partial', removed = removed })
