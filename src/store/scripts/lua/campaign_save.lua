-- Create a campaign, or update one that is still a draft. Arguments:
-- store::scripts::campaigns::SaveCampaign.
local id = A.id
if not id then
  id = 'c' .. next_id('campaign')
  redis.call('HSET', K.campaign(id), 'id', id, 'status', 'draft', 'created_at', NOW,
    'created_ms', NOW_MS, 'seed', A.seed)
  redis.call('ZADD', K.campaigns(), NOW_MS, id)
else
  local status = redis.call('HGET', K.campaign(id), 'status')
  if not status then return reply({ status = 'not_found' }) end
  if status ~= 'draft' then return reply({ status = 'not_editable', current = status }) end
end
local key = K.campaign(id)
for name, value in pairs(A.fields) do redis.call('HSET', key, name, value) end
for _, name in ipairs(A.cleared) do redis.call('HDEL', key, name) end
redis.call('HSET', key, 'updated_at', NOW)
return reply({ status = 'saved', id = id })
