-- A batch of imported members: each row is created once (a number already a member is left
-- exactly as it is, so importing a file twice changes nothing). A row with consent is `active`
-- (its consent record says `import`, the file and line), without it `pending`; an erased number
-- is opted out (see status_of_new). An opening balance is an `import` history entry.
-- With request_consent, a pending member gets the one "Reply YES" text, through the outbox
-- like every text (so throttled). The same effects as ensure_member and set_status, written as
-- one HSET per member and one counter update per batch: an import is the bulk path.
-- Arguments: store::scripts::members::ImportBatch.
local counts = { created = 0, existing = 0, active = 0, pending = 0, opted_out = 0 }
local imported_points = 0
local joined = {}
for _, row in ipairs(A.rows) do
  local phone = row.phone
  local mkey = K.member(phone)
  if redis.call('EXISTS', mkey) == 1 then
    counts.existing = counts.existing + 1
  else
    local status = status_of_new(phone, 'import', row.consent and 'active' or 'pending')
    local fields = { 'balance', row.balance, 'lifetime', row.balance,
      'visits', 0, 'joined_ms', NOW_MS, 'created_via', 'import',
      'locale', row.locale, 'status', status, 'tier', tier_name(row.balance) }
    if row.first_name then
      table.insert(fields, 'first_name')
      table.insert(fields, row.first_name)
    end
    local action = 'enrolled_pending'
    if status == 'active' then
      action = 'opt_in'
    elseif status == 'opted_out' then
      action = 'enrolled_suppressed'
    end
    local texted = status == 'pending' and A.request_consent
    if texted then
      table.insert(fields, 'consent_requested')
      table.insert(fields, '1')
    end
    redis.call('HSET', mkey, unpack(fields))
    table.insert(joined, NOW_MS)
    table.insert(joined, phone)
    emit('member.joined', phone, { status = status, channel = 'import' })
    if status == 'active' then emit('member.opted_in', phone, {}) end
    record_consent(phone, { action = action, channel = 'import', file = A.file, line = row.line })
    if row.balance > 0 then
      lots_add(phone, row.balance,
        append_ledger(phone, { type = 'import', points = row.balance, balance = row.balance }))
      imported_points = imported_points + row.balance
      emit('points.earned', phone, { points = row.balance, balance = row.balance,
        source = 'import' })
    end
    if texted then
      enqueue(phone, 'consent_request', 'confirm', { points = 0, balance = row.balance },
        A.message_ttl_secs)
    end
    counts.created = counts.created + 1
    counts[status] = counts[status] + 1
  end
end
if #joined > 0 then redis.call('ZADD', K.members(), unpack(joined)) end
stat('members:total', counts.created)
stat('members:joined', counts.created)
stat('members:active', counts.active)
stat('members:pending', counts.pending)
stat('members:opted_out', counts.opted_out)
stat('points:imported', imported_points)
return reply({ status = 'imported', created = counts.created, existing = counts.existing,
  active = counts.active, pending = counts.pending, suppressed = counts.opted_out })
