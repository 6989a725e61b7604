-- The library every script is a function of (src/store/scripts/mod.rs says how it is loaded
-- and how a call is made). It is loaded once per Redis and its definitions are made once, at
-- load; `begin` starts every call.
--
-- A call's keys: keys[1] is the program's key base, "<prefix>:{<program>}:". Every key a
-- script touches is made from it by a helper of K below, so all of them carry the program's
-- hash tag and live in one Cluster slot. The key layout is documented once, in
-- src/store/keys.rs; K mirrors it name for name (and a test holds the two to the same answers).
-- A call's arguments: args[1] is the time in Unix milliseconds and args[2] the same time in
-- RFC 3339, from the caller, so every write of one call carries one timestamp. args[3] is the
-- call's arguments, one JSON object (or, for an earn, MessagePack map) with named fields (A),
-- and args[4], when given, the program's rules (P): tier table and auto-issued rewards,
-- serialised once at start-up.
-- A script answers one JSON object whose "status" names its outcome.
--
-- One rule keeps calls apart: the library's own locals are constants and functions, set at
-- load. What belongs to one call is set by `begin` (B, NOW_MS, NOW_MS_TEXT, NOW, A, P, TODAY),
-- and what a call works out once and reuses (the webhook endpoints, the erasure
-- key, the receipt table's shape, a receipt's hash) is kept in CALL, which `begin` replaces.
-- Nothing else is assigned outside a function's own locals, but for RULES, a memo of decoded
-- rules by their exact text (a pure function of it; no script changes P), and of the JSON text
-- of the strings they hold (tier names: json_text).
--
-- Numbers sent to Redis go as text: redis.call formats a Lua number with snprintf("%.17g"),
-- thousands of instructions each, and an earn sent sixteen. `int` formats an integer with
-- '%d' (a fraction of that), once, where it is sent more than once; constants are written as
-- strings, and the call's time is NOW_MS_TEXT, the caller's own text of NOW_MS.
local B, NOW_MS, NOW_MS_TEXT, NOW, A, P, TODAY
local CALL = {}
local RULES = { decoded = {}, count = 0, MAX = 64, json = {}, json_count = 0 }

local function int(x) return string.format('%d', x) end

local K = {}
function K.member(phone) return B .. 'm:' .. phone end
function K.ledger(phone) return B .. 'm:' .. phone .. ':ledger' end
function K.codes(phone) return B .. 'm:' .. phone .. ':codes' end
function K.locations(phone) return B .. 'm:' .. phone .. ':locations' end
function K.consent(phone) return B .. 'm:' .. phone .. ':consent' end
function K.messages(phone) return B .. 'm:' .. phone .. ':messages' end
function K.replies(phone, hour) return B .. 'm:' .. phone .. ':replies:' .. hour end
function K.inbound_rate(phone) return B .. 'm:' .. phone .. ':inrate' end
function K.join_rate(subject) return B .. 'join:rate:' .. subject end
function K.session(hash) return B .. 'session:' .. hash end
function K.sign_in_rate(client) return B .. 'signin:' .. client end
function K.members() return B .. 'members' end
function K.earn_receipt(location, receipt) return B .. 'receipt:earn:' .. location .. ':' .. receipt end
function K.receipt_index() return B .. 'receipts' end
function K.receipt_bucket(n) return B .. 'receipts:' .. n end
function K.redeem_receipt(location, receipt) return B .. 'receipt:redeem:' .. location .. ':' .. receipt end
function K.code(code) return B .. 'code:' .. code end
function K.outbox() return B .. 'outbox' end
function K.delayed() return B .. 'outbox:delayed' end
function K.dead() return B .. 'outbox:dead' end
function K.message(id) return B .. 'msg:' .. id end
function K.final_messages(id) return B .. 'msgs:' .. math.floor(tonumber(string.sub(id, 2)) / 100) end
function K.sid(provider_id) return B .. 'sid:' .. provider_id end
function K.inbound(provider_id) return B .. 'inbound:' .. provider_id end
function K.rate(number) return B .. 'rate:' .. number end
function K.seq() return B .. 'seq' end
function K.stats() return B .. 'stats' end
function K.daily_stats(day) return B .. 'stats:day:' .. day end
function K.marketing(phone) return B .. 'm:' .. phone .. ':marketing' end
function K.lots(phone) return B .. 'm:' .. phone .. ':lots' end
function K.campaigns() return B .. 'campaigns' end
function K.active_campaigns() return B .. 'campaigns:active' end
function K.scheduled_campaigns() return B .. 'campaigns:scheduled' end
function K.campaign(id) return B .. 'campaign:' .. id end
function K.audience(id) return B .. 'campaign:' .. id .. ':audience' end
function K.recipients(id) return B .. 'campaign:' .. id .. ':recipients' end
function K.held(id) return B .. 'campaign:' .. id .. ':held' end
function K.clickers(id) return B .. 'campaign:' .. id .. ':clickers' end
function K.link(token) return B .. 'link:' .. token end
function K.adjust_receipt(key) return B .. 'receipt:adjust:' .. key end
function K.suppressed() return B .. 'suppressed' end
function K.erased_consent(pseudonym) return B .. 'erased:' .. pseudonym .. ':consent' end
function K.referral(code) return B .. 'referral:' .. code end
function K.auto_due() return B .. 'auto:due' end
function K.hooks() return B .. 'hooks' end
function K.hook_queue(endpoint) return B .. 'hook:' .. endpoint end
function K.hook_delayed(endpoint) return B .. 'hook:' .. endpoint .. ':delayed' end
function K.hook_dead(endpoint) return B .. 'hook:' .. endpoint .. ':dead' end

-- The consumer group every sender reads the outbox through.
local GROUP = 'senders'
-- The consumer group webhook deliverers read each endpoint's queue through.
local HOOK_GROUP = 'deliverers'

local function reply(answer) return cjson.encode(answer) end

-- `text` as a JSON string, for texts of the rules that answers repeat (a tier's name).
local function json_text(text)
  local json = RULES.json[text]
  if not json then
    if RULES.json_count == RULES.MAX then RULES.json, RULES.json_count = {}, 0 end
    json = cjson.encode(text)
    RULES.json[text], RULES.json_count = json, RULES.json_count + 1
  end
  return json
end

-- A stored JSON document sent back as it is, under `field`, without decoding it.
local function reply_stored(status, field, stored)
  return '{"status":"' .. status .. '","' .. field .. '":' .. stored .. '}'
end

local function next_id(counter) return redis.call('HINCRBY', K.seq(), counter, 1) end

-- A member's history and consent record, kept compact: most members have a few of each, and
-- as JSON with its repeated names in lists of their own they were most of a member's memory.
--
-- A record is a MessagePack array: [word, at_ms, ...fixed, tag, value, tag, value...]. The word
-- (a history entry's type, a consent record's action) and the tags are small numbers from the
-- tables below; a word not in its table is kept as itself. A history entry's fixed part is
-- points and balance after; a consent record has none.
--
-- History: the newest entries are fields of the member hash, named by their entry number
-- ("8001" for e8001), so a member's record and recent history are one small key that Redis
-- keeps in its compact listpack encoding (fields and values of at most 64 bytes, at most 128 of
-- them). When the hash reaches Compact.INLINE fields, its entries move to `m:<e164>:ledger`
-- (newest first), as the same array with the entry number in front; an entry too long to be a
-- field goes there directly, after the others, so every entry in the list is older than every
-- entry in the hash. Entries written before this format are JSON in that list.
-- src/ledger/history.rs reads both; erase.lua reads the tags it needs here.
--
-- Consent: the newest record is the member hash's `consent` field; older ones, and records too
-- long for a field, are JSON in `m:<e164>:consent` (newest first), as they always were.
local Compact = {
  INLINE = 48,
  KINDS = { 'earn', 'reverse', 'redeem', 'void', 'reward_issued', 'welcome', 'adjust', 'import',
    'referral', 'birthday', 'expire' },
  HISTORY_TAGS = { 'amount', 'location', 'receipt', 'tender', 'reward', 'code', 'reason',
    'bonus_multiplier', 'by', 'refund_id', 'message_id', 'lot' },
  ACTIONS = { 'opt_in', 'opt_out', 'enrolled_pending', 'enrolled_suppressed' },
  CONSENT_TAGS = { 'channel', 'text', 'message_id', 'location', 'receipt', 'file', 'line', 'by',
    'client' },
  CHANNELS = { 'sms', 'pos', 'import', 'api', 'web' },
}

-- The position of each element of `list`, by element. (At load, when these tables are made,
-- Redis offers no globals such as ipairs.)
local function positions(list)
  local at = {}
  for i = 1, #list do at[list[i]] = i end
  return at
end

-- A kind of record: its word field and words, fixed fields and tags, with the position of
-- each word and the set of field names it knows, made once, at load (searching the lists and
-- building the set for every record was most of a pack).
function Compact.layout(word_field, words, fixed, tags)
  local known = positions(tags)
  known[word_field] = true
  for i = 1, #fixed do known[fixed[i]] = true end
  return { word_field = word_field, words = words, fixed = fixed, tags = tags,
    word_at = positions(words), known = known }
end

Compact.HISTORY = Compact.layout('type', Compact.KINDS, { 'points', 'balance' },
  Compact.HISTORY_TAGS)
Compact.CONSENT = Compact.layout('action', Compact.ACTIONS, {}, Compact.CONSENT_TAGS)
Compact.CHANNEL_AT = positions(Compact.CHANNELS)

-- `record` as [word, at_ms, fixed..., tag, value...] (tags ascending) by `layout`, or nil if it
-- has a field without a tag.
-- (Numeric for loops: an ipairs loop calls its iterator once a field, and this runs for every
-- history entry and consent record.)
function Compact.pack(record, layout)
  local word = record[layout.word_field]
  local out = { layout.word_at[word] or word, NOW_MS }
  local fixed, tags, known = layout.fixed, layout.tags, layout.known
  local n = 2
  for i = 1, #fixed do
    local value = record[fixed[i]]
    if type(value) ~= 'number' then return nil end
    n = n + 1
    out[n] = value
  end
  for name in pairs(record) do
    if not known[name] then return nil end
  end
  local null = cjson.null
  for i = 1, #tags do
    local name = tags[i]
    local value = record[name]
    if value ~= nil and value ~= null then
      if name == 'channel' then value = Compact.CHANNEL_AT[value] or value end
      out[n + 1] = i
      out[n + 2] = value
      n = n + 2
    end
  end
  return cmsgpack.pack(out)
end

-- A purchase's history entry, { type = 'earn', points, balance, amount, location, receipt,
-- tender, bonus_multiplier, message_id }, packed as Compact.pack packs it (a test holds the
-- two to the same bytes), without the table of names and the search of the layout: it is
-- written at every purchase.
function Compact.pack_earn(points, balance, amount, location, receipt, tender, bonus,
    message_id)
  local out = { 1, NOW_MS, points, balance, 1, amount, 2, location, 3, receipt }
  local n = 10
  if tender then
    out[n + 1], out[n + 2], n = 4, tender, n + 2
  end
  if bonus then
    out[n + 1], out[n + 2], n = 8, bonus, n + 2
  end
  if message_id then
    out[n + 1], out[n + 2] = 11, message_id
  end
  return cmsgpack.pack(out)
end

-- Unix milliseconds as the RFC 3339 text NOW is (Howard Hinnant's civil_from_days).
function Compact.iso(ms)
  local days = math.floor(ms / 86400000)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  local t = ms - days * 86400000
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(t / 3600000),
    math.floor(t / 60000) % 60, math.floor(t / 1000) % 60, t % 1000)
end

-- The fields of a packed record, `at` as RFC 3339 text; `first` is where its word is.
function Compact.unpack(packed, first, word_field, words, fixed, tags)
  local a = cmsgpack.unpack(packed)
  local record = { [word_field] = words[a[first]] or a[first], at = Compact.iso(a[first + 1]) }
  local i = first + 2
  for _, name in ipairs(fixed) do
    record[name] = a[i]
    i = i + 1
  end
  while a[i] do
    local name = tags[a[i]]
    local value = a[i + 1]
    if name == 'channel' then value = Compact.CHANNELS[value] or value end
    record[name] = value
    i = i + 2
  end
  return record
end

-- `packed` (a history entry as the hash keeps it) as the list keeps it: the same array with
-- the entry number `n` in front. Made from the bytes, not by unpacking and packing the array
-- again (most of a spill's time, which is a few times an earn's): a MessagePack array is its
-- length in a header of its own, a fixarray's one byte (at most 15) or an array 16's three,
-- followed by its elements, so the new array is a header one longer, n, and the old elements.
-- A test holds this to cmsgpack's own packing of the longer array.
function Compact.archived(n, packed)
  local head = string.byte(packed, 1)
  local count, elements
  if head >= 0x90 and head <= 0x9f then
    count, elements = head - 0x90 + 1, 2
  else
    count, elements = string.byte(packed, 2) * 256 + string.byte(packed, 3) + 1, 4
  end
  local header = count <= 15 and string.char(0x90 + count)
    or string.char(0xdc, math.floor(count / 256), count % 256)
  return header .. cmsgpack.pack(n) .. string.sub(packed, elements)
end

-- Moves the member's history entries from their hash to the list, oldest first. The hash
-- lists its fields in the order they were written while it is a listpack, which for entries
-- is their order; they are sorted only when it is not (a hash Redis converted, entries written
-- by hand).
function Compact.spill(phone)
  local mkey = K.member(phone)
  local flat = redis.call('HGETALL', mkey)
  local numbers, values, names = {}, {}, {}
  local k, ordered, last = 0, true, -1
  for i = 1, #flat, 2 do
    local name = flat[i]
    local first = string.byte(name)
    -- Only an entry's name starts with a digit; the check of the rest is for safety.
    if first >= 48 and first <= 57 and not string.find(name, '%D') then
      local n = tonumber(name)
      k = k + 1
      numbers[k], values[k], names[k] = n, flat[i + 1], name
      if n < last then ordered = false end
      last = n
    end
  end
  if k == 0 then return end
  local order
  if not ordered then
    order = {}
    for i = 1, k do order[i] = i end
    table.sort(order, function(x, y) return numbers[x] < numbers[y] end)
  end
  local archived = {}
  for i = 1, k do
    local at = order and order[i] or i
    archived[i] = Compact.archived(numbers[at], values[at])
  end
  redis.call('LPUSH', K.ledger(phone), unpack(archived))
  redis.call('HDEL', mkey, unpack(names))
end

-- Appends one entry to the member's append-only history. Returns its id. `fields` (name,
-- value, ...), when given, are member fields written by the same HSET as the entry.
-- `uncounted`: the caller knows the member's hash exists, and that it is counted often enough
-- without this entry (earn.lua counts it every few visits): HLEN is a command of its own.
-- `packed`: the entry packed already (Compact.pack_earn), in place of `entry`.
local function append_ledger(phone, entry, fields, uncounted, packed)
  local n = int(next_id('entry'))
  local mkey = K.member(phone)
  fields = fields or {}
  packed = packed or Compact.pack(entry, Compact.HISTORY)
  local exists, full = true, false
  if not uncounted then
    local count = redis.call('HLEN', mkey)
    exists, full = count > 0, count >= Compact.INLINE
  end
  if packed and #packed <= 64 and exists then
    if full then Compact.spill(phone) end
    fields[#fields + 1] = n
    fields[#fields + 1] = packed
  else
    Compact.spill(phone)
    if packed then
      packed = Compact.archived(tonumber(n), packed)
    else
      entry.id, entry.at = 'e' .. n, NOW
      packed = cjson.encode(entry)
    end
    redis.call('LPUSH', K.ledger(phone), packed)
  end
  if #fields > 0 then redis.call('HSET', mkey, unpack(fields)) end
  return 'e' .. n
end

-- Decodes the history list's element `raw` (JSON, or a packed entry with its number first).
function Compact.archived_entry(raw)
  if string.sub(raw, 1, 1) == '{' then return cjson.decode(raw) end
  local e = Compact.unpack(raw, 2, 'type', Compact.KINDS, { 'points', 'balance' },
    Compact.HISTORY_TAGS)
  e.id = 'e' .. cmsgpack.unpack(raw)[1]
  return e
end

-- Every history entry of the member, decoded, in no particular order.
function Compact.history(phone)
  local entries = {}
  local flat = redis.call('HGETALL', K.member(phone))
  for i = 1, #flat, 2 do
    if string.match(flat[i], '^%d+$') then
      local e = Compact.unpack(flat[i + 1], 1, 'type', Compact.KINDS, { 'points', 'balance' },
        Compact.HISTORY_TAGS)
      e.id = 'e' .. flat[i]
      entries[#entries + 1] = e
    end
  end
  for _, raw in ipairs(redis.call('LRANGE', K.ledger(phone), 0, -1)) do
    entries[#entries + 1] = Compact.archived_entry(raw)
  end
  return entries
end

-- The member's newest consent record, decoded, or nil.
function Compact.newest_consent(phone)
  local packed = redis.call('HGET', K.member(phone), 'consent')
  return packed and Compact.unpack(packed, 1, 'action', Compact.ACTIONS, {}, Compact.CONSENT_TAGS)
end

-- Moves the newest consent record from the member hash to the list (as JSON).
function Compact.consent_to_list(phone)
  local newest = Compact.newest_consent(phone)
  if newest then
    redis.call('LPUSH', K.consent(phone), cjson.encode(newest))
    redis.call('HDEL', K.member(phone), 'consent')
  end
end

-- A shared rate limit (GCRA on the caller's clock): at most `count` in any `window_ms`, as many
-- at once. `key` holds the theoretical arrival time, in ms. Returns false when over the limit,
-- and then changes nothing.
local function within_rate(key, count, window_ms)
  local interval = window_ms / count
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < NOW_MS then tat = NOW_MS end
  if tat - NOW_MS > window_ms - interval then return false end
  redis.call('SET', key, tat + interval, 'PX', math.ceil(tat + interval - NOW_MS))
  return true
end

-- The owner's counters, kept exact by the scripts that change the ledger, so reports never scan
-- (src/stats.rs reads them): all time in `stats`, and per day (UTC) in `stats:day:<date>`.
-- What happened at a location is counted under `<name>@<location>`, what belongs to no location
-- under `<name>`; the program's figure is the sum of both (a location id never holds '@'). So
-- a count is two writes, whether or not it has a location: per-location hashes of their own
-- cost two more per count, and were most of an earn's writes.
-- `delta` may be given as its text. The two keys are made once a call.
local function stat(field, delta, location)
  if delta == 0 or delta == '0' then return end
  if type(delta) == 'number' then delta = delta == 1 and '1' or int(delta) end
  if location and location ~= '' then field = field .. '@' .. location end
  if not CALL.stats_key then
    CALL.stats_key, CALL.daily_stats_key = K.stats(), K.daily_stats(TODAY)
  end
  redis.call('HINCRBY', CALL.stats_key, field, delta)
  redis.call('HINCRBY', CALL.daily_stats_key, field, delta)
end

-- Events out (Standard Webhooks). The endpoints of the configuration are registered in
-- `hooks` (endpoint id -> {events, phone}) by every serve at start; an event is written to the
-- queue of each endpoint that wants it, by the same script as the change it reports (the
-- transactional outbox again), so an event exists if and only if its change committed.
-- Each endpoint's copy carries only what it may see: the phone number when its include_phone
-- is set, else a member reference keyed by the program's secret (stable, not reversible).
-- The webhook-id (`evt_<n>`) is the same for every endpoint and every attempt.
local function endpoints()
  if not CALL.hook_endpoints then
    CALL.hook_endpoints = {}
    local flat = redis.call('HGETALL', K.hooks())
    for i = 1, #flat, 2 do
      table.insert(CALL.hook_endpoints, { id = flat[i], spec = cjson.decode(flat[i + 1]) })
    end
  end
  return CALL.hook_endpoints
end

local function member_ref(phone)
  local key = redis.call('HGET', K.seq(), 'member_ref_key') or ''
  return 'mem_' .. string.sub(redis.sha1hex(key .. ':' .. phone), 1, 24)
end

local function emit(kind, phone, data)
  local id, ref
  for _, endpoint in ipairs(endpoints()) do
    local spec = endpoint.spec
    if type(spec.events) ~= 'table' or spec.events[kind] then
      -- The program is the hash tag of the key base.
      data.program = data.program or string.match(B, '{([^}]*)}:$')
      id = id or ('evt_' .. next_id('event'))
      if phone then
        ref = ref or member_ref(phone)
        data.member = ref
        data.phone = spec.phone and phone or nil
      end
      local body = cjson.encode({ type = kind, timestamp = NOW, data = data })
      redis.call('XADD', K.hook_queue(endpoint.id), '*', 'id', id, 'body', body, 'attempt', '1')
    end
  end
end

-- Moves a member between statuses and keeps the per-status counters exact.
local function set_status(phone, from, to)
  if from == to then return end
  redis.call('HSET', K.member(phone), 'status', to)
  if from then stat('members:' .. from, -1) end
  stat('members:' .. to, 1)
  if to == 'active' then
    emit('member.opted_in', phone, {})
  elseif to == 'opted_out' then
    emit('member.opted_out', phone, {})
  end
end

-- One entry of the member's consent record (newest first): when, how, and what was said.
local function record_consent(phone, record)
  local mkey = K.member(phone)
  local packed = Compact.pack(record, Compact.CONSENT)
  Compact.consent_to_list(phone)
  if packed and #packed <= 64 and redis.call('EXISTS', mkey) == 1 then
    redis.call('HSET', mkey, 'consent', packed)
  else
    record.at = NOW
    redis.call('LPUSH', K.consent(phone), cjson.encode(record))
  end
end

-- Campaign attribution. A campaign "touches" a member when its text is sent to them (group
-- `r`, recipients) or when they are drawn into its holdout (group `h`); the last touch wins.
-- For the campaign's attribution_days after the touch, the member's visits, spend, points and
-- redemptions count for that campaign and group, O(1) per purchase, in the same script.
-- `touch_visited` marks the touch's first visit, so a visitor is counted once per touch (a
-- campaign touches a member once).
local function touch(phone, campaign, group, days)
  local mkey = K.member(phone)
  redis.call('HSET', mkey, 'touch_campaign', campaign, 'touch_group', group,
    'touch_ms', NOW_MS, 'touch_until_ms', NOW_MS + days * 86400000)
  redis.call('HDEL', mkey, 'touch_visited')
  redis.call('HINCRBY', K.campaign(campaign), group .. ':members', 1)
end

-- The campaign and group a member's activity now counts for, if any, from their
-- touch_campaign, touch_group, touch_until_ms and touch_ms (`t`, as HMGET reads them).
local function touch_in_force(t, within_ms)
  if not t[1] then return nil end
  if within_ms then
    if NOW_MS - tonumber(t[4]) > within_ms then return nil end
  elseif tonumber(t[3]) < NOW_MS then
    return nil
  end
  return t[1], t[2]
end

local function touched_by(phone, within_ms)
  return touch_in_force(redis.call('HMGET', K.member(phone), 'touch_campaign', 'touch_group',
    'touch_until_ms', 'touch_ms'), within_ms)
end

-- A purchase of `amount` earning `points` (its text), counted for the campaign that touched
-- the member; `touch` is their touch_campaign, touch_group, touch_until_ms and touch_visited,
-- read by the caller, who writes `writes` (name, value, ...) to the member's hash: the first
-- visit of a touch is marked there.
local function attribute_visit(amount, points, touch, writes)
  local campaign, group = touch_in_force(touch)
  if not campaign then return end
  local key = K.campaign(campaign)
  redis.call('HINCRBY', key, group .. ':visits', '1')
  redis.call('HINCRBY', key, group .. ':spend', int(amount))
  redis.call('HINCRBY', key, group .. ':points', points)
  if not touch[4] then
    writes[#writes + 1] = 'touch_visited'
    writes[#writes + 1] = '1'
    redis.call('HINCRBY', key, group .. ':visitors', '1')
  end
end

local function attribute(phone, field)
  local campaign, group = touched_by(phone)
  if campaign then redis.call('HINCRBY', K.campaign(campaign), group .. ':' .. field, 1) end
end

-- Opts a known member out (status, time, consent record): `channel` says who told us (sms,
-- carrier), `text` and `message_id` what and which message. An opt-out within a day of a
-- campaign's touch counts against that campaign.
local function opt_out(phone, from, channel, text, message_id)
  set_status(phone, from, 'opted_out')
  redis.call('HSET', K.member(phone), 'opted_out_at', NOW)
  record_consent(phone, { action = 'opt_out', channel = channel, text = text,
    message_id = message_id })
  local campaign, group = touched_by(phone, 86400000)
  if campaign then redis.call('HINCRBY', K.campaign(campaign), group .. ':opt_outs', 1) end
end

-- The transactional outbox: the message record and its stream entry are written by the same
-- script as the change that causes them, so a text exists if and only if its change committed.
-- `kind` decides what the sender may deliver to a member in each status (see outbound/).
local function new_message_id() return 'm' .. next_id('msg') end

-- `id` may be allocated beforehand (new_message_id) so a ledger entry can name its text.
-- `campaign` names the campaign a marketing text belongs to (its counters follow the text).
local function enqueue(phone, kind, template, vars, ttl_secs, id, campaign)
  id = id or new_message_id()
  local key = K.message(id)
  local fields = { 'id', id, 'to', phone, 'kind', kind, 'template', template,
    'vars', cjson.encode(vars), 'status', 'queued', 'attempts', '0',
    'created_ms', NOW_MS_TEXT, 'created_at', NOW }
  if campaign then
    fields[#fields + 1] = 'campaign'
    fields[#fields + 1] = campaign
  end
  redis.call('HSET', key, unpack(fields))
  redis.call('EXPIRE', key, int(ttl_secs))
  redis.call('XADD', K.outbox(), '*', 'id', id)
  -- The member's own list of texts, newest first, for their history (bounded).
  if redis.call('LPUSH', K.messages(phone), id) > 200 then
    redis.call('LTRIM', K.messages(phone), '0', '199')
  end
  return id
end

-- Once a text's outcome is final (delivered, undelivered, failed, suppressed), its record
-- moves into `msgs:<id / 100>` as one short value under its id, and its own key goes: a key
-- per text costs more than the text's outcome. The value is positional ('|' never occurs in
-- its parts), read back by outbox::FinalMessage:
--   status|attempts|segments|created_ms|final_after_ms|kind|template|campaign|error_code|error|links
-- where links are the tokens of the text's tracked links (an erasure still finds them). The
-- body, its variables, the number and the provider's id are not kept. Values of at most 64
-- bytes (the usual ones: final_after_ms is counted from created_ms) keep the hash in Redis's
-- compact encoding. A dead-lettered text keeps its record, for a requeue.
local function finalize_message(id)
  local key = K.message(id)
  local ttl = redis.call('PTTL', key)
  if ttl == -2 then return end
  local m = redis.call('HMGET', key, 'status', 'attempts', 'segments', 'created_ms', 'kind',
    'template', 'campaign', 'error_code', 'error', 'vars')
  local tokens = {}
  local ok, vars = pcall(cjson.decode, m[10] or '')
  if ok and type(vars) == 'table' and type(vars.links) == 'table' then
    for _, short in ipairs(vars.links) do
      local token = string.match(short, '/l/([%w]+)$')
      if token then tokens[#tokens + 1] = token end
    end
  end
  local error_text = string.gsub(string.sub(m[9] or '', 1, 40), '|', '/')
  local created = tonumber(m[4] or '') or NOW_MS
  local record = table.concat({ m[1] or '', m[2] or '0', m[3] or '', created, NOW_MS - created,
    m[5] or '', m[6] or '', m[7] or '', m[8] or '', error_text, table.concat(tokens, ' ') }, '|')
  local bucket = K.final_messages(id)
  redis.call('HSET', bucket, id, record)
  if ttl > 0 and redis.call('PTTL', bucket) < ttl then redis.call('PEXPIRE', bucket, ttl) end
  redis.call('DEL', key)
end

-- Counts `field` (sent, delivered, failed, suppressed, deferred...) on the campaign the text of
-- `message_key` belongs to, if any.
local function campaign_count(message_key, field)
  local campaign = redis.call('HGET', message_key, 'campaign')
  if campaign then redis.call('HINCRBY', K.campaign(campaign), field, 1) end
end

-- Releases a claimed outbox entry: acknowledged and removed from the stream.
local function ack(entry)
  redis.call('XACK', K.outbox(), GROUP, entry)
  redis.call('XDEL', K.outbox(), entry)
end

-- Erased numbers. An erased member's number is kept only as a keyed hash (`pseudonym`) on the
-- suppression list: the key is drawn once per program (by the first erasure, from a candidate
-- the caller sends) and never leaves Redis, so the list cannot be reversed by hashing every
-- number, yet a number that comes back is recognised.
local function pseudonym_with(key, phone) return 'x' .. redis.sha1hex(key .. ':' .. phone) end

local function pseudonym(phone)
  if CALL.erasure_key == nil then CALL.erasure_key = redis.call('HGET', K.seq(), 'erasure_key') end
  return CALL.erasure_key and pseudonym_with(CALL.erasure_key, phone) or nil
end

-- Whether `phone` was erased (and not heard from since).
local function is_suppressed(phone)
  local erased = pseudonym(phone)
  return erased ~= nil and redis.call('SISMEMBER', K.suppressed(), erased) == 1
end

-- The status a new member gets: `status`, except that an erased number is never texted again
-- unless it texts us itself. Created through any other channel (a till, an import), it is
-- opted out; texting in lifts the suppression.
local function status_of_new(phone, via, status)
  local erased = pseudonym(phone)
  if erased and redis.call('SISMEMBER', K.suppressed(), erased) == 1 then
    if via ~= 'sms' then return 'opted_out' end
    redis.call('SREM', K.suppressed(), erased)
  end
  return status
end

-- Creates the member if absent. Returns true when it was created.
local function ensure_member(phone, via, status, locale)
  local key = K.member(phone)
  if redis.call('EXISTS', key) == 1 then return false end
  status = status_of_new(phone, via, status)
  -- The number is the key's and the times are milliseconds: member.lua writes them out.
  redis.call('HSET', key, 'balance', 0, 'lifetime', 0, 'visits', 0, 'joined_ms', NOW_MS,
    'created_via', via, 'locale', locale)
  redis.call('ZADD', K.members(), NOW_MS, phone)
  stat('members:total', 1)
  stat('members:joined', 1)
  emit('member.joined', phone, { status = status, channel = via })
  set_status(phone, nil, status)
  return true
end

-- Idempotency of a POS write keyed by `rkey`: the answer to send when the receipt was seen
-- (the stored response for the same request, a conflict for a different one), or nil.
local function prior_answer(rkey, fingerprint)
  local prior = redis.call('HMGET', rkey, 'fp', 'response')
  if not prior[1] then return nil end
  if prior[1] == fingerprint then return reply_stored('replay', 'result', prior[2]) end
  return reply({ status = 'conflict' })
end

-- Records a POS write's receipt: its fingerprint and response (for replays) and `fields`.
local function store_receipt(rkey, fingerprint, response, ttl_secs, fields)
  redis.call('HSET', rkey, 'fp', fingerprint, 'response', response, 'at', NOW)
  for name, value in pairs(fields) do redis.call('HSET', rkey, name, value) end
  redis.call('EXPIRE', rkey, ttl_secs)
end

-- The member's unused, unexpired reward codes.
local function unused_codes(phone)
  local codes = {}
  for _, code in ipairs(redis.call('SMEMBERS', K.codes(phone))) do
    local c = redis.call('HMGET', K.code(code), 'reward', 'status', 'expires_ms')
    if c[2] == 'unused' and tonumber(c[3]) > NOW_MS then
      table.insert(codes, { code = code, reward = c[1], expires_ms = tonumber(c[3]) })
    end
  end
  return codes
end

-- Automations (campaigns::automations). A trigger puts "<automation>|<subject>|<occurrence>"
-- into `auto:due`, scored by when it is due; the same entry twice is one entry (a later visit
-- moves win_back's due time). `auto_run.lua` takes the due ones, once, in any serve.
local function schedule(entry, due_ms) redis.call('ZADD', K.auto_due(), due_ms, entry) end

-- Points expiry (P.expiry): points expire `after_ms` after they were earned, oldest first. A
-- member's lots (`m:<phone>:lots`, oldest first, "<lot id>|<expires ms>|<points>") hold what
-- each credit has left: spending takes from the oldest, a refund from its own purchase's lot
-- first, and a voided redemption puts back what it took, lot by lot. Each lot's expiry (and its
-- reminder) waits in `auto:due`; auto_run.lua expires what is left of it then.
local LOT = '^([^|]+)|(%d+)|(%d+)$'

local function read_lots(phone)
  local lots = {}
  for _, raw in ipairs(redis.call('LRANGE', K.lots(phone), 0, -1)) do
    local id, expires, points = string.match(raw, LOT)
    table.insert(lots, { id = id, expires = tonumber(expires), points = tonumber(points) })
  end
  return lots
end

local function write_lots(phone, lots)
  local items = {}
  for _, lot in ipairs(lots) do
    if lot.points > 0 then table.insert(items, lot.id .. '|' .. lot.expires .. '|' .. lot.points) end
  end
  redis.call('DEL', K.lots(phone))
  if #items > 0 then redis.call('RPUSH', K.lots(phone), unpack(items)) end
end

local function schedule_lot(phone, id, expires)
  schedule('expire|' .. phone .. '|' .. id, expires)
  if P.expiry.reminder_ms then
    schedule('expiry_reminder|' .. phone .. '|' .. id, expires - P.expiry.reminder_ms)
  end
end

-- A credit of `points` (its history entry `id` names the lot).
local function lots_add(phone, points, id)
  if not (P and P.expiry) or points <= 0 then return end
  local expires = NOW_MS + P.expiry.after_ms
  redis.call('RPUSH', K.lots(phone), id .. '|' .. expires .. '|' .. points)
  schedule_lot(phone, id, expires)
end

-- Takes `points` from the lots, the lot `first` first when given, then the oldest. Returns what
-- it took of each ("<id>|<expires>|<points>,..."), for a void to put back.
local function lots_take(phone, points, first)
  if not (P and P.expiry) or points <= 0 then return nil end
  local lots = read_lots(phone)
  local taken = {}
  local function take(lot)
    local n = math.min(lot.points, points)
    if n > 0 then
      lot.points = lot.points - n
      points = points - n
      table.insert(taken, lot.id .. '|' .. lot.expires .. '|' .. n)
    end
  end
  for _, lot in ipairs(lots) do
    if lot.id == first then take(lot) end
  end
  for _, lot in ipairs(lots) do take(lot) end
  write_lots(phone, lots)
  return table.concat(taken, ',')
end

-- Puts back what lots_take took, each part in its own lot with its own expiry.
local function lots_restore(phone, taken)
  if not (P and P.expiry) or not taken or taken == '' then return end
  local lots = read_lots(phone)
  for item in string.gmatch(taken, '[^,]+') do
    local id, expires, points = string.match(item, LOT)
    local found = false
    for _, lot in ipairs(lots) do
      if lot.id == id then
        lot.points = lot.points + tonumber(points)
        found = true
      end
    end
    if not found then
      table.insert(lots, { id = id, expires = tonumber(expires), points = tonumber(points) })
      schedule_lot(phone, id, tonumber(expires))
    end
  end
  table.sort(lots, function(a, b) return a.expires < b.expires end)
  write_lots(phone, lots)
end

-- Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil), and back.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function year_of_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0)
end

-- The birthday automation: due on the Monday (UTC) of the birthday's week, at 16:00 UTC (quiet
-- hours move it to the member's daytime), in the first year whose week is not over and was not
-- celebrated yet (`celebrated`, a year). February 29 is celebrated on the 28th in other years.
local function schedule_birthday(phone, mmdd, celebrated)
  local m, d = tonumber(string.sub(mmdd, 1, 2)), tonumber(string.sub(mmdd, 4, 5))
  local today = math.floor(NOW_MS / 86400000)
  local year = year_of_days(today)
  for y = year - 1, year + 1 do
    local day = d
    if m == 2 and d == 29 and days_from_civil(y, 3, 1) - days_from_civil(y, 2, 1) == 28 then
      day = 28
    end
    local date = days_from_civil(y, m, day)
    local monday = date - (date + 3) % 7
    if y > celebrated and monday + 7 > today then
      schedule('birthday|' .. phone .. '|' .. y, (monday * 86400 + 57600) * 1000)
      return
    end
  end
end

-- A marketing text for `campaign` (a campaign or an automation) under the frequency cap:
-- its message id, or 'suppressed' (not active, or the number cannot receive texts) or
-- 'capped' (it had `cap.max` marketing texts within `cap.window_ms`). `make_vars()` makes the
-- text's variables, only when it is sent.
local function send_marketing(phone, status, undeliverable, template, make_vars, campaign, cap)
  if status ~= 'active' or undeliverable == '1' then return 'suppressed' end
  local marketing = K.marketing(phone)
  redis.call('ZREMRANGEBYSCORE', marketing, '-inf', NOW_MS - cap.window_ms)
  if redis.call('ZCARD', marketing) >= cap.max then return 'capped' end
  local id = enqueue(phone, 'marketing', template, make_vars(), cap.ttl_secs, nil, campaign)
  redis.call('ZADD', marketing, NOW_MS, id)
  redis.call('EXPIRE', marketing, math.ceil(cap.window_ms / 1000))
  return id
end

-- Reward codes: eight symbols of an alphabet without look-alikes, drawn from the SHA-1 of a
-- random 128-bit seed the caller sends (one draw per call, not per code) and a counter, by
-- rejection sampling (a byte is used only below 248 = 8 x 31, so every symbol is equally
-- likely). A code already in use is skipped: the next counter gives another.
local CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ'
local function next_code(seed)
  while true do
    local code = ''
    while #code < 8 do
      CALL.code_counter = (CALL.code_counter or 0) + 1
      local digest = redis.sha1hex(seed .. ':' .. CALL.code_counter)
      for i = 1, 39, 2 do
        local byte = tonumber(string.sub(digest, i, i + 1), 16)
        if byte < 248 and #code < 8 then
          local symbol = byte % 31 + 1
          code = code .. string.sub(CODE_ALPHABET, symbol, symbol)
        end
      end
    end
    if redis.call('EXISTS', K.code(code)) == 0 then return code end
  end
end

-- Issues a single-use code for `reward` ({id, points, valid_days}) to `phone`, spending its
-- points, with a history entry and the stats. Returns the code and when it expires (ms).
local function issue_code(phone, reward, seed, code_ttl_secs, location, receipt)
  local code = next_code(seed)
  local balance = redis.call('HINCRBY', K.member(phone), 'balance', 0 - reward.points)
  lots_take(phone, reward.points)
  local expires_ms = NOW_MS + reward.valid_days * 86400000
  redis.call('HSET', K.code(code), 'code', code, 'phone', phone, 'reward', reward.id,
    'points', reward.points, 'status', 'unused', 'issued_at', NOW, 'expires_ms', expires_ms)
  redis.call('PEXPIREAT', K.code(code), expires_ms + code_ttl_secs * 1000)
  redis.call('SADD', K.codes(phone), code)
  append_ledger(phone, { type = 'reward_issued', points = 0 - reward.points, balance = balance,
    reward = reward.id, code = code, location = location, receipt = receipt })
  stat('points:redeemed', reward.points, location)
  stat('rewards:issued', 1, location)
  emit('points.redeemed', phone, { points = reward.points, balance = balance,
    reward = reward.id, location = location, receipt = receipt })
  emit('reward.issued', phone, { reward = reward.id, expires_ms = expires_ms,
    location = location, receipt = receipt })
  redis.call('HINCRBY', K.member(phone), 'reward_cycle', 1)
  -- Counted as expired (rewards:expired) when its time comes unused (auto_run.lua).
  schedule('code_expired|' .. code .. '|', expires_ms)
  local expiring = P and P.automations and P.automations.reward_expiring
  if expiring then
    schedule('reward_expiring|' .. code .. '|', expires_ms - expiring.before_ms)
  end
  return code, expires_ms, balance
end

-- floor(a / b) for non-negative integers below 2^53, exactly (a / b in doubles may round up).
local function idiv(a, b)
  local q = math.floor(a / b)
  while q * b > a do q = q - 1 end
  while (q + 1) * b <= a do q = q + 1 end
  return q
end

-- The index in P.tiers ([{name, min}], by min ascending, the first at 0) of a member with
-- `lifetime` points.
local function tier_index(lifetime)
  local idx = 1
  for i, t in ipairs(P.tiers) do
    if lifetime >= t.min then idx = i end
  end
  return idx
end

local function tier_name(lifetime) return P.tiers[tier_index(lifetime)].name end

local function member_summary(phone)
  local m = redis.call('HMGET', K.member(phone), 'balance', 'lifetime', 'tier', 'status')
  return { phone = phone, balance = tonumber(m[1]), lifetime_points = tonumber(m[2]),
    tier = m[3] or '', status = m[4] }
end

-- Earn receipts, one per purchase and kept ledger.receipt_retention_days: most of a program's
-- memory if each had a key of its own. So a receipt is a field of a bucket hash instead,
-- `receipts:<n>`, "<location>:<receipt>" -> a fixed-width binary value (layout below), small
-- enough that every bucket stays in Redis's compact listpack encoding.
--
-- The buckets grow with the program by linear hashing: `receipts` holds `level` and `split`,
-- and a field's bucket is h mod 2^level, or h mod 2^(level+1) for the buckets below `split`
-- (those already split), h being the first 32 bits of the field's SHA-1. When the receipts
-- outnumber LOAD per bucket, bucket `split` splits: its fields that belong to split + 2^level
-- under the next level move there. A lookup is one HMGET and one HGET, whatever the
-- program's size; a split moves about LOAD fields, once per LOAD writes. (Redis keeps a hash
-- compact up to 128 fields of at most 64 bytes.) Redis finds a field by reading its bucket
-- from the start, so every lookup and write reads half a bucket: at 24 rather than 48 a
-- bucket, an earn costs Redis about 4,000 instructions less, for twice the bucket keys.
--
-- A value carries the day its receipt may be forgotten; `receipt_sweep.lua` deletes those
-- once a day. It also carries its field's hash, so a split moves fields without working out
-- SHA-1 again (about two per write, most of a split's cost); values written before hold no
-- hash (their status byte below HASHED says so) and are hashed when they move.
--
-- A receipt that does not fit (a long receipt number, rewards issued, a win-back
-- bonus, figures beyond 32 bits) keeps a key of its own, `receipt:earn:<location>:<receipt>`,
-- with an EXPIRE, as do receipts that were refunded or whose member was erased: those move out
-- of their bucket first (Receipts.own). Receipts written before buckets existed are own keys.
local Receipts = {
  LOAD = 24,
  -- until day (days since 1970), fingerprint (64 bits), points, amount, balance after,
  -- lifetime after, lot (the earn's history entry number), status (plus HASHED when the
  -- field's hash follows); then the hash (HASH_LAYOUT) when it does, then the phone number.
  -- The tier is not stored: it is the tier of `life` (checked when stored).
  LAYOUT = '<HI4I4i4i4i4i4I4B',
  HASH_LAYOUT = '<I4',
  HASHED = 16,
  -- The status's byte in a value: the last of LAYOUT (2 + 7 * 4 + 1 bytes).
  STATUS_BYTE = 31,
  STATUSES = { 'active', 'pending', 'opted_out' },
}
Receipts.STATUS_AT = positions(Receipts.STATUSES)

function Receipts.hash(field) return tonumber(string.sub(redis.sha1hex(field), 1, 8), 16) end

-- The caller's Receipts.hash of `field`, when it sends one (an earn's A.receipt_hash: SHA-1
-- costs far less there than here). A test holds the two to the same answers.
function Receipts.hashed(field, hash)
  if hash then CALL.hashed_field, CALL.field_hash, CALL.bucket_key = field, hash, nil end
end

-- The bucket of `field`, and the table's level and split (read once a call). An earn looks
-- its receipt up and then stores it: the field's hash and bucket are worked out once for both
-- (until a split moves the bucket's fields).
function Receipts.bucket(field)
  if not CALL.receipt_level then
    local meta = redis.call('HMGET', K.receipt_index(), 'level', 'split')
    CALL.receipt_level, CALL.receipt_split = tonumber(meta[1] or '0'), tonumber(meta[2] or '0')
  end
  if CALL.hashed_field ~= field then
    CALL.hashed_field, CALL.field_hash, CALL.bucket_key = field, Receipts.hash(field), nil
  end
  local level, split = CALL.receipt_level, CALL.receipt_split
  if not CALL.bucket_key then
    local n = 2 ^ level
    local b = CALL.field_hash % n
    if b < split then b = CALL.field_hash % (2 * n) end
    CALL.bucket_key = K.receipt_bucket(int(b))
  end
  return CALL.bucket_key, level, split
end

-- The bucket value of a receipt `r` (fields as an own key holds them, its tier the tier of its
-- `life`, as earn.lua makes it), or nil if it does not fit.
local function fits_i32(x)
  return type(x) == 'number' and x >= -2147483648 and x <= 2147483647
end

-- `hash` is the field's Receipts.hash.
function Receipts.encode(r, until_day, hash)
  if r.bonus or r.issued or #r.phone > 16 or #r.fp < 16 then return nil end
  local st = Receipts.STATUS_AT[r.st]
  local lot = r.lot and tonumber(string.sub(r.lot, 2)) or 0
  -- nil unless hexadecimal (the first 64 bits of the fingerprint, as two halves).
  local fp_hi, fp_lo = tonumber(string.sub(r.fp, 1, 8), 16), tonumber(string.sub(r.fp, 9, 16), 16)
  if not (st and fp_hi and fp_lo and fits_i32(r.points) and fits_i32(r.amount)
      and fits_i32(r.bal) and fits_i32(r.life) and lot and lot >= 0 and lot < 4294967296) then
    return nil
  end
  return struct.pack(Receipts.LAYOUT, until_day, fp_hi, fp_lo, r.points, r.amount, r.bal, r.life,
    lot, st + Receipts.HASHED) .. struct.pack(Receipts.HASH_LAYOUT, hash) .. r.phone
end

-- A bucket value's fields and its until day (the hash, when stored, is skipped: hash_of reads
-- it).
function Receipts.decode(value)
  local until_day, fp_hi, fp_lo, points, amount, bal, life, lot, st, rest =
    struct.unpack(Receipts.LAYOUT, value)
  if st > Receipts.HASHED then
    st = st - Receipts.HASHED
    rest = rest + 4 -- HASH_LAYOUT's 4 bytes
  end
  return {
    fp = string.format('%08x%08x', fp_hi, fp_lo), phone = string.sub(value, rest),
    -- Scripts without the program's rules (an erasure) leave the tier out; a replay adds it.
    points = points, amount = amount, bal = bal, life = life, tier = P and tier_name(life),
    st = Receipts.STATUSES[st], lot = lot > 0 and ('e' .. lot) or nil,
  }, until_day
end

-- The Receipts.hash of a bucket's `field` from its `value`: stored, or worked out.
function Receipts.hash_of(field, value)
  if string.byte(value, Receipts.STATUS_BYTE) > Receipts.HASHED then
    return (struct.unpack(Receipts.HASH_LAYOUT, value, Receipts.STATUS_BYTE + 1))
  end
  return Receipts.hash(field)
end

-- The receipt of (location, receipt), its fields by name (as an own key holds them), or nil.
function Receipts.find(location, receipt)
  local own = redis.call('HGETALL', K.earn_receipt(location, receipt))
  if #own > 0 then
    local r = {}
    for i = 1, #own, 2 do r[own[i]] = own[i + 1] end
    for _, name in ipairs({ 'points', 'amount', 'bal', 'life' }) do r[name] = tonumber(r[name]) end
    return r
  end
  local field = location .. ':' .. receipt
  if #field > 64 then return nil end
  local value = redis.call('HGET', Receipts.bucket(field), field)
  return value and (Receipts.decode(value)) or nil
end

-- Stores a new receipt `r`: in its bucket if it fits, else as its own key.
function Receipts.store(location, receipt, r, ttl_secs)
  local until_day = math.floor((NOW_MS / 1000 + ttl_secs) / 86400) + 1
  local field = location .. ':' .. receipt
  local key, level, split, value
  if #field <= 64 then
    key, level, split = Receipts.bucket(field)
    value = Receipts.encode(r, until_day, CALL.field_hash)
  end
  if not value then
    local rkey = K.earn_receipt(location, receipt)
    local flat = {}
    for name, v in pairs(r) do
      flat[#flat + 1] = name
      flat[#flat + 1] = v
    end
    redis.call('HSET', rkey, unpack(flat))
    redis.call('EXPIRE', rkey, ttl_secs)
    return
  end
  if redis.call('HSET', key, field, value) == 0 then return end
  local index = K.receipt_index()
  local count = redis.call('HINCRBY', index, 'count', '1')
  local n = 2 ^ level
  if count <= Receipts.LOAD * (n + split) then return end
  local from, to = K.receipt_bucket(int(split)), K.receipt_bucket(int(split + n))
  local flat, moved, names = redis.call('HGETALL', from), {}, {}
  for i = 1, #flat, 2 do
    if Receipts.hash_of(flat[i], flat[i + 1]) % (2 * n) ~= split then
      moved[#moved + 1] = flat[i]
      moved[#moved + 1] = flat[i + 1]
      names[#names + 1] = flat[i]
    end
  end
  if #names > 0 then
    redis.call('HSET', to, unpack(moved))
    redis.call('HDEL', from, unpack(names))
  end
  split = split + 1
  if split == n then level, split = level + 1, 0 end
  redis.call('HSET', index, 'level', level, 'split', split)
  CALL.receipt_level, CALL.receipt_split, CALL.bucket_key = level, split, nil
end

-- Moves the receipt of (location, receipt) out of its bucket into a key of its own (kept until
-- the same day), so fields can be added to it (refunds) or changed (an erasure). Returns the
-- key, or nil if there is no such receipt.
function Receipts.own(location, receipt)
  local rkey = K.earn_receipt(location, receipt)
  if redis.call('EXISTS', rkey) == 1 then return rkey end
  local field = location .. ':' .. receipt
  if #field > 64 then return nil end
  local bucket = Receipts.bucket(field)
  local value = redis.call('HGET', bucket, field)
  if not value then return nil end
  local r, until_day = Receipts.decode(value)
  local flat = {}
  for name, v in pairs(r) do
    flat[#flat + 1] = name
    flat[#flat + 1] = v
  end
  redis.call('HSET', rkey, unpack(flat))
  redis.call('EXPIREAT', rkey, math.max(until_day * 86400, math.floor(NOW_MS / 1000) + 1))
  redis.call('HDEL', bucket, field)
  redis.call('HINCRBY', K.receipt_index(), 'count', -1)
  return rkey
end

-- The start of every call: its keys and arguments, and nothing kept from the call before.
local function begin(keys, args)
  B = keys[1]
  NOW_MS_TEXT = args[1]
  NOW_MS = tonumber(NOW_MS_TEXT)
  NOW = args[2]
  -- A JSON object or a MessagePack map (store::scripts::ArgsEncoding); the second never
  -- starts with '{' (byte 123).
  A = string.byte(args[3]) == 123 and cjson.decode(args[3]) or cmsgpack.unpack(args[3])
  P = nil
  local rules = args[4]
  if rules then
    P = RULES.decoded[rules]
    if not P then
      if RULES.count == RULES.MAX then RULES.decoded, RULES.count = {}, 0 end
      P = cjson.decode(rules)
      RULES.decoded[rules], RULES.count = P, RULES.count + 1
    end
  end
  TODAY = string.sub(NOW, 1, 10)
  CALL = {}
end
