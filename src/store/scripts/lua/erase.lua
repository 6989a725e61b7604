-- Erasure of a member (the right to be forgotten). Removed: the member record (name,
-- birthday, locale), the history, codes, locations, texts and their tracked links, the member's
-- place in campaigns' audiences and outcomes, and the number inside stored receipts (which stay,
-- so a till's retry still answers and credits nothing). Kept: the program's totals (the stats
-- never named anyone), and the consent record, which the law asks to keep as proof of opt-out,
-- moved under the number's keyed hash; that hash also goes on the suppression list, so the
-- number is never texted again unless it texts us itself. Arguments:
-- store::scripts::ledger::Erase.
local phone = A.phone
local mkey = K.member(phone)
if redis.call('EXISTS', mkey) == 0 then return reply({ status = 'member_not_found' }) end
redis.call('HSETNX', K.seq(), 'erasure_key', A.key_candidate)
local erased = pseudonym(phone)
local m = redis.call('HMGET', mkey, 'status', 'balance', 'ref_code')
if m[3] then redis.call('DEL', K.referral(m[3])) end

-- A stored receipt's answers (the first response, each refund's, a void's) without the number.
local function scrub_receipt(rkey)
  if not rkey or redis.call('EXISTS', rkey) == 0 then return end
  local flat = redis.call('HGETALL', rkey)
  for i = 1, #flat, 2 do
    local field, value = flat[i], flat[i + 1]
    if field == 'phone' then
      redis.call('HSET', rkey, 'phone', erased)
    elseif field == 'response' or field == 'void' or string.sub(field, 1, 7) == 'refund:' then
      -- Refund answers are stored as "<fingerprint>\n<response>".
      local sep = string.find(value, '\n', 1, true)
      local head = sep and string.sub(value, 1, sep) or ''
      local ok, doc = pcall(cjson.decode, sep and string.sub(value, sep + 1) or value)
      if ok and type(doc) == 'table' and doc.phone then
        doc.phone = erased
        redis.call('HSET', rkey, field, head .. cjson.encode(doc))
      end
    end
  end
end

local messages = {}
for _, id in ipairs(redis.call('LRANGE', K.messages(phone), 0, -1)) do messages[id] = true end
for _, e in ipairs(Compact.history(phone)) do
  if type(e.receipt) == 'string' and type(e.location) == 'string' then
    -- An earn receipt leaves its bucket (lib.lua's Receipts) to be changed.
    scrub_receipt(Receipts.own(e.location, e.receipt))
    scrub_receipt(K.redeem_receipt(e.location, e.receipt))
  end
  if type(e.code) == 'string' then redis.call('DEL', K.code(e.code)) end
  if type(e.message_id) == 'string' then messages[e.message_id] = true end
end
for _, code in ipairs(redis.call('SMEMBERS', K.codes(phone))) do redis.call('DEL', K.code(code)) end
for id in pairs(messages) do
  local m = redis.call('HMGET', K.message(id), 'vars')
  local ok, decoded = pcall(cjson.decode, m[1] or '')
  if ok and type(decoded) == 'table' and type(decoded.links) == 'table' then
    for _, short in ipairs(decoded.links) do
      local token = string.match(short, '/l/([%w]+)$')
      if token then redis.call('DEL', K.link(token)) end
    end
  end
  -- A final record keeps only its links' tokens (finalize_message), last of its parts.
  local final = redis.call('HGET', K.final_messages(id), id)
  if final then
    for token in string.gmatch(string.match(final, '([^|]*)$'), '%S+') do
      redis.call('DEL', K.link(token))
    end
    redis.call('HDEL', K.final_messages(id), id)
  end
  redis.call('DEL', K.message(id))
end
for _, campaign in ipairs(redis.call('ZRANGE', K.campaigns(), 0, -1)) do
  redis.call('HDEL', K.recipients(campaign), phone)
  redis.call('LREM', K.audience(campaign), 0, phone)
  redis.call('SREM', K.clickers(campaign), phone)
end
local hour = math.floor(NOW_MS / 3600000)
for h = hour - 2, hour do redis.call('DEL', K.replies(phone, h)) end
redis.call('DEL', K.inbound_rate(phone))

Compact.consent_to_list(phone)
if redis.call('EXISTS', K.consent(phone)) == 1 then
  redis.call('RENAME', K.consent(phone), K.erased_consent(erased))
end
redis.call('LPUSH', K.erased_consent(erased), cjson.encode({ action = 'erased', by = A.by,
  at = NOW }))
redis.call('SADD', K.suppressed(), erased)

redis.call('DEL', mkey, K.ledger(phone), K.codes(phone), K.locations(phone), K.messages(phone),
  K.marketing(phone), K.lots(phone))
redis.call('ZREM', K.members(), phone)
stat('members:' .. (m[1] or 'pending'), -1)
stat('members:total', -1)
stat('members:erased', 1)
stat('points:forfeited', tonumber(m[2] or '0'))
return reply({ status = 'erased' })
