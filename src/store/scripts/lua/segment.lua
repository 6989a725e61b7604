-- Segments: whether a member is in a campaign's segment. Prepended to the campaign scripts
-- (after lib.lua). A segment ({tiers, locations, locales, min_balance, max_balance,
-- visited_after_ms, visited_before_ms, joined_after_ms, joined_before_ms,
-- not_visited_for_days, min_visits}, every field optional) holds when all its fields hold.
-- Only active members who can receive texts are ever in one.

local MEMBER_FIELDS = { 'status', 'tier', 'locale', 'balance', 'visits', 'last_visit_ms',
  'joined_ms', 'undeliverable', 'first_name' }

local function member_fields(phone)
  local values = redis.call('HMGET', K.member(phone), unpack(MEMBER_FIELDS))
  local m = {}
  for i, name in ipairs(MEMBER_FIELDS) do
    if values[i] then m[name] = values[i] end
  end
  return m
end

local function listed(list, value)
  for _, item in ipairs(list) do
    if item == value then return true end
  end
  return false
end

local function in_segment(phone, m, seg)
  if m.status ~= 'active' or m.undeliverable == '1' then return false end
  if seg.tiers and not listed(seg.tiers, m.tier) then return false end
  if seg.locales and not listed(seg.locales, m.locale) then return false end
  local balance = tonumber(m.balance or '0')
  if seg.min_balance and balance < seg.min_balance then return false end
  if seg.max_balance and balance > seg.max_balance then return false end
  local visits = tonumber(m.visits or '0')
  if seg.min_visits and visits < seg.min_visits then return false end
  local last_visit = m.last_visit_ms and tonumber(m.last_visit_ms)
  if seg.visited_after_ms and not (last_visit and last_visit >= seg.visited_after_ms) then
    return false
  end
  if seg.visited_before_ms and not (last_visit and last_visit < seg.visited_before_ms) then
    return false
  end
  if seg.not_visited_for_days and last_visit
    and NOW_MS - last_visit < seg.not_visited_for_days * 86400000 then
    return false
  end
  local joined = tonumber(m.joined_ms or '0')
  if seg.joined_after_ms and joined < seg.joined_after_ms then return false end
  if seg.joined_before_ms and joined >= seg.joined_before_ms then return false end
  if seg.locations then
    local visited = false
    for _, location in ipairs(seg.locations) do
      -- A visit is a `loc:` field of the member (earn.lua); members whose visits were kept in
      -- a set of their own before still have it.
      if redis.call('HEXISTS', K.member(phone), 'loc:' .. location) == 1
        or redis.call('SISMEMBER', K.locations(phone), location) == 1 then
        visited = true
        break
      end
    end
    if not visited then return false end
  end
  return true
end
