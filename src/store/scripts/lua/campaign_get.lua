-- A campaign's record, or a page of campaigns, newest first: `limit` of them, after the
-- campaign `before` when given (a cursor that stays put while new campaigns are created).
-- `more` says whether older ones remain. Arguments: store::scripts::campaigns::GetCampaigns.
local function record(id)
  local flat = redis.call('HGETALL', K.campaign(id))
  local c = {}
  for i = 1, #flat, 2 do c[flat[i]] = flat[i + 1] end
  return c
end
local campaigns = {}
local more = false
if A.id then
  if redis.call('EXISTS', K.campaign(A.id)) == 1 then table.insert(campaigns, record(A.id)) end
else
  local first = 0
  if A.before then
    local rank = redis.call('ZREVRANK', K.campaigns(), A.before)
    if not rank then return reply({ status = 'unknown_cursor' }) end
    first = rank + 1
  end
  -- One more than asked, to know whether there is a next page.
  local ids = redis.call('ZREVRANGE', K.campaigns(), first, first + A.limit)
  more = #ids > A.limit
  for i = 1, math.min(#ids, A.limit) do table.insert(campaigns, record(ids[i])) end
end
return reply({ status = 'found', campaigns = campaigns, more = more })
