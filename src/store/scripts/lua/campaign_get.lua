-- A campaign's record, or every campaign's (newest first).
-- Arguments: store::scripts::campaigns::GetCampaigns.
local function record(id)
  local flat = redis.call('HGETALL', K.campaign(id))
  local c = {}
  for i = 1, #flat, 2 do c[flat[i]] = flat[i + 1] end
  return c
end
local campaigns = {}
if A.id then
  if redis.call('EXISTS', K.campaign(A.id)) == 1 then table.insert(campaigns, record(A.id)) end
else
  for _, id in ipairs(redis.call('ZREVRANGE', K.campaigns(), 0, A.limit - 1)) do
    table.insert(campaigns, record(id))
  end
end
return reply({ status = 'found', campaigns = campaigns })
