-- A click on a tracked link: counted for its campaign (every click, and each member once).
-- Arguments: store::scripts::campaigns::Click.
local raw = redis.call('GET', K.link(A.token))
if not raw then return reply({ status = 'not_found' }) end
local link = cjson.decode(raw)
local key = K.campaign(link.c)
redis.call('HINCRBY', key, 'clicks', 1)
if redis.call('SADD', K.clickers(link.c), link.p) == 1 then
  redis.call('HINCRBY', key, 'unique_clicks', 1)
end
return reply({ status = 'found', url = link.u })
