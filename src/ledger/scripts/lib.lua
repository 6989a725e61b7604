-- Shared helpers, prepended to every ledger script (see src/ledger/mod.rs for the key layout).
-- KEYS[1] is the program's key base, "<prefix>:{<program>}:". Every key a script touches is
-- derived from it, so all of them carry the program's hash tag and live in one Cluster slot.
-- ARGV[1] is the time in Unix milliseconds and ARGV[2] the same time in RFC 3339, both from
-- the caller, so every write of one call carries the same timestamp.
local B = KEYS[1]
local NOW_MS = tonumber(ARGV[1])
local NOW = ARGV[2]

local function member_key(phone) return B .. 'm:' .. phone end

local function next_id(counter) return redis.call('HINCRBY', B .. 'seq', counter, 1) end

-- Appends one entry to the member's append-only history (newest first).
local function append_ledger(phone, entry)
  entry.id = 'e' .. next_id('entry')
  entry.at = NOW
  redis.call('LPUSH', member_key(phone) .. ':ledger', cjson.encode(entry))
  return entry.id
end

local function stat(field, delta, location)
  if delta == 0 then return end
  redis.call('HINCRBY', B .. 'stats', field, delta)
  if location and location ~= '' then
    redis.call('HINCRBY', B .. 'stats:loc:' .. location, field, delta)
  end
end

-- Moves a member between statuses and keeps the per-status counters exact.
local function set_status(phone, from, to)
  if from == to then return end
  redis.call('HSET', member_key(phone), 'status', to)
  if from then stat('members:' .. from, -1) end
  stat('members:' .. to, 1)
end

-- The transactional outbox: the message record and its stream entry are written by the same
-- script as the change that causes them, so a text exists if and only if its change committed.
-- `kind` decides what the sender may deliver to a member in each status (see outbound/).
local function new_message_id() return 'm' .. next_id('msg') end

-- `id` may be allocated beforehand (new_message_id) so a ledger entry can name its text.
local function enqueue(phone, kind, template, vars, ttl_secs, id)
  id = id or new_message_id()
  local key = B .. 'msg:' .. id
  redis.call('HSET', key, 'id', id, 'to', phone, 'kind', kind, 'template', template,
    'vars', cjson.encode(vars), 'status', 'queued', 'attempts', 0,
    'created_ms', NOW_MS, 'created_at', NOW)
  redis.call('EXPIRE', key, ttl_secs)
  redis.call('XADD', B .. 'outbox', '*', 'id', id)
  -- The member's own list of texts, newest first, for their history (bounded).
  local index = member_key(phone) .. ':messages'
  redis.call('LPUSH', index, id)
  redis.call('LTRIM', index, 0, 199)
  return id
end

-- Creates the member if absent. Returns true when it was created.
local function ensure_member(phone, via, status, locale)
  local key = member_key(phone)
  if redis.call('EXISTS', key) == 1 then return false end
  redis.call('HSET', key, 'phone', phone, 'balance', 0, 'lifetime', 0, 'visits', 0,
    'joined_at', NOW, 'joined_ms', NOW_MS, 'created_via', via, 'locale', locale)
  redis.call('ZADD', B .. 'members', NOW_MS, phone)
  stat('members:total', 1)
  set_status(phone, nil, status)
  return true
end

-- Idempotency of a POS write keyed by `rkey`: the stored reply to the same request (same
-- fingerprint), a conflict for a different one, or nil when the receipt is new.
local function prior_answer(rkey, fp)
  local prior = redis.call('HMGET', rkey, 'fp', 'response')
  if not prior[1] then return nil end
  if prior[1] == fp then return { 'replay', prior[2] } end
  return { 'conflict', '' }
end

-- The member's unused, unexpired reward codes.
local function unused_codes(phone)
  local codes = {}
  for _, code in ipairs(redis.call('SMEMBERS', member_key(phone) .. ':codes')) do
    local c = redis.call('HMGET', B .. 'code:' .. code, 'reward', 'status', 'expires_ms')
    if c[2] == 'unused' and tonumber(c[3]) > NOW_MS then
      table.insert(codes, { code = code, reward = c[1], expires_ms = tonumber(c[3]) })
    end
  end
  return codes
end

-- floor(a / b) for non-negative integers below 2^53, exactly (a / b in doubles may round up).
local function idiv(a, b)
  local q = math.floor(a / b)
  while q * b > a do q = q - 1 end
  while (q + 1) * b <= a do q = q + 1 end
  return q
end

-- tiers: [[name, min_lifetime_points, ...], ...] sorted by min ascending, the first at 0.
local function tier_index(tiers, lifetime)
  local idx = 1
  for i, t in ipairs(tiers) do
    if lifetime >= t[2] then idx = i end
  end
  return idx
end

local function member_summary(phone)
  local m = redis.call('HMGET', member_key(phone), 'balance', 'lifetime', 'tier', 'status')
  return { phone = phone, balance = tonumber(m[1]), lifetime_points = tonumber(m[2]),
    tier = m[3] or '', status = m[4] }
end
