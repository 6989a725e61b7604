-- Runs the automations due now: each entry of `auto:due` whose time has come is taken (ZREM,
-- in this script: once, whichever serve runs it), checked again (a win-back only if there was
-- still no visit, a reminder only for a code still unused), and sent like a campaign's text:
-- holdout, frequency cap, opt-outs and quiet hours apply, and the automation's pseudo-campaign
-- `campaign:auto_<name>` counts what was sent and, through the touch, what it earned.
-- Arguments: store::scripts::campaigns::RunAutomations.
local CAP = { max = A.cap_max, window_ms = A.cap_window_ms, ttl_secs = A.message_ttl_secs }
local automations = P.automations or {}

local function deliver(name, entry, occurrence, phone, m, vars, spec)
  local id = 'auto_' .. name
  local key = K.campaign(id)
  if redis.call('HSETNX', key, 'id', id) == 1 then
    redis.call('HSET', key, 'name', name, 'status', 'automation', 'attribution_days',
      A.attribution_days, 'seed', A.seed, 'created_ms', NOW_MS)
  end
  local c = redis.call('HMGET', key, 'seed', 'attribution_days')
  local days = tonumber(c[2])
  -- The holdout: a share of the occurrences, drawn from the automation's seed and the entry.
  if (spec.holdout or 0) > 0 then
    local u = tonumber(string.sub(redis.sha1hex(c[1] .. ':' .. entry), 1, 12), 16)
      / 281474976710656
    if u * 100 < spec.holdout then
      redis.call('HINCRBY', key, 'holdout', 1)
      touch(phone, id, 'h', days)
      return 'holdout'
    end
  end
  redis.call('HINCRBY', key, 'recipients', 1)
  local body = A.bodies[name == 'welcome_series' and ('welcome_series:' .. occurrence) or name]
  local bonus_until
  if name == 'win_back' and spec.multiplier then bonus_until = NOW_MS + spec.valid_ms end
  local outcome = send_marketing(phone, m[1], m[2], body and 'campaign' or name, function()
    vars.balance = tonumber(m[3] or '0')
    vars.campaign = id
    vars.body = body
    if bonus_until then
      vars.bonus_multiplier = spec.multiplier
      vars.bonus_until_ms = bonus_until
    end
    return vars
  end, id, CAP)
  if outcome == 'suppressed' or outcome == 'capped' then
    redis.call('HINCRBY', key, outcome, 1)
    return outcome
  end
  redis.call('HINCRBY', key, 'queued', 1)
  if bonus_until then
    redis.call('HSET', K.member(phone), 'win_back_multiplier', spec.multiplier,
      'win_back_until_ms', bonus_until)
  end
  return 'queued'
end

-- What is left of a lot when it expires leaves the balance, with an `expire` history entry.
local function expire_lot(phone, id)
  local mkey = K.member(phone)
  local lots, left = read_lots(phone), 0
  for _, lot in ipairs(lots) do
    if lot.id == id then
      left = lot.points
      lot.points = 0
    end
  end
  local balance = tonumber(redis.call('HGET', mkey, 'balance') or '0')
  left = math.min(left, math.max(balance, 0))
  write_lots(phone, lots)
  if left <= 0 then return false end
  balance = redis.call('HINCRBY', mkey, 'balance', 0 - left)
  append_ledger(phone, { type = 'expire', points = 0 - left, balance = balance, lot = id })
  stat('points:expired', left)
  emit('points.expired', phone, { points = left, balance = balance })
  return true
end

-- The reminder before a lot expires, when points are left in it (an account notice).
local function remind_lot(phone, id)
  for _, lot in ipairs(read_lots(phone)) do
    if lot.id == id and lot.points > 0
      and redis.call('HGET', K.member(phone), 'status') == 'active' then
      local balance = tonumber(redis.call('HGET', K.member(phone), 'balance') or '0')
      enqueue(phone, 'transactional', 'points_expiring', { points = lot.points,
        expires_ms = lot.expires, balance = balance }, A.message_ttl_secs)
      return true
    end
  end
  return false
end

local ran = 0
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', K.auto_due(), '-inf', NOW_MS, 'LIMIT', 0,
    A.limit)) do
  redis.call('ZREM', K.auto_due(), entry)
  local name, subject, occurrence = string.match(entry, '^([%w_]+)|([^|]+)|(.*)$')
  local spec = name and automations[name]
  if name == 'code_expired' then
    -- Counted once; the code keeps its status (redeem.lua refuses it as expired by its time).
    local code = K.code(subject)
    if redis.call('HGET', code, 'status') == 'unused'
      and redis.call('HSETNX', code, 'expired_counted', 1) == 1 then
      stat('rewards:expired', 1)
    end
  elseif P.expiry and name == 'expire' then
    if expire_lot(subject, occurrence) then ran = ran + 1 end
  elseif P.expiry and name == 'expiry_reminder' then
    if remind_lot(subject, occurrence) then ran = ran + 1 end
  elseif spec then
    local phone, vars = subject, {}
    if name == 'reward_expiring' then
      local code = redis.call('HMGET', K.code(subject), 'phone', 'status', 'expires_ms', 'reward')
      phone = nil
      if code[1] and code[2] == 'unused' and tonumber(code[3]) > NOW_MS then
        phone = code[1]
        vars = { code = subject, reward = code[4], expires_ms = tonumber(code[3]) }
      end
    end
    local m = phone and redis.call('HMGET', K.member(phone), 'status', 'undeliverable',
      'balance', 'last_visit_ms', 'birthday', 'birthday_year')
    -- A visit since the trigger means no win-back is due; a birthday is celebrated once a year.
    local still = m and m[1] and (name ~= 'win_back'
      or tonumber(m[4] or '0') + spec.after_ms <= NOW_MS)
    local year = tonumber(occurrence)
    if name == 'birthday' then
      still = still and m[5] and tonumber(m[6] or '0') < year
      vars = { bonus_points = spec.bonus }
    end
    if still then
      local outcome = deliver(name, entry, occurrence, phone, m, vars, spec)
      ran = ran + 1
      if name == 'birthday' then
        redis.call('HSET', K.member(phone), 'birthday_year', year)
        if outcome == 'queued' and spec.bonus > 0 then
          local mkey = K.member(phone)
          local balance = redis.call('HINCRBY', mkey, 'balance', spec.bonus)
          redis.call('HSET', mkey, 'tier',
            tier_name(redis.call('HINCRBY', mkey, 'lifetime', spec.bonus)))
          lots_add(phone, spec.bonus,
            append_ledger(phone, { type = 'birthday', points = spec.bonus, balance = balance }))
          stat('points:issued', spec.bonus)
          emit('points.earned', phone, { points = spec.bonus, balance = balance,
            source = 'birthday' })
        end
        schedule_birthday(phone, m[5], year)
      end
    end
  end
end
return reply({ status = 'ran', count = ran })
