-- Record a send attempt's outcome and release the stream entry.
-- ARGV: 3 message id, 4 stream entry id, 5 outcome (sent | retry | failed | dead | opted_out),
--       6 provider message id, 7 body, 8 segments, 9 error, 10 retry at (ms), 11 sid ttl s
local id, entry, outcome = ARGV[3], ARGV[4], ARGV[5]
local key = B .. 'msg:' .. id
redis.call('XACK', B .. 'outbox', 'senders', entry)
redis.call('XDEL', B .. 'outbox', entry)
if redis.call('EXISTS', key) == 0 then return 'gone' end
redis.call('HSET', key, 'body', ARGV[7], 'segments', ARGV[8], 'updated_at', NOW)
if ARGV[9] ~= '' then redis.call('HSET', key, 'error', ARGV[9]) end
if outcome == 'sent' then
  -- A status callback may have arrived first; never move a message backwards.
  local current = redis.call('HGET', key, 'status')
  if current ~= 'delivered' and current ~= 'undelivered' and current ~= 'failed' then
    redis.call('HSET', key, 'status', 'sent')
  end
  redis.call('HSET', key, 'provider_id', ARGV[6], 'sent_at', NOW)
  redis.call('SET', B .. 'sid:' .. ARGV[6], id, 'EX', tonumber(ARGV[11]))
elseif outcome == 'retry' then
  redis.call('HSET', key, 'status', 'queued', 'retry_at_ms', ARGV[10])
  redis.call('ZADD', B .. 'outbox:delayed', tonumber(ARGV[10]), id)
elseif outcome == 'dead' then
  redis.call('HSET', key, 'status', 'failed', 'dead', '1')
  redis.call('XADD', B .. 'outbox:dead', '*', 'id', id, 'error', ARGV[9])
elseif outcome == 'opted_out' then
  -- The carrier says the handset replied STOP: record it as an opt-out.
  redis.call('HSET', key, 'status', 'failed')
  local to = redis.call('HGET', key, 'to')
  local mkey = member_key(to)
  local status = redis.call('HGET', mkey, 'status')
  if status and status ~= 'opted_out' then
    set_status(to, status, 'opted_out')
    redis.call('HSET', mkey, 'opted_out_at', NOW)
    redis.call('LPUSH', mkey .. ':consent', cjson.encode({ action = 'opt_out', channel = 'carrier',
      at = NOW, text = ARGV[9], message_id = id }))
  end
else
  redis.call('HSET', key, 'status', 'failed')
end
return outcome
