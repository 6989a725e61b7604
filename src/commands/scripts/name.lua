-- NAME <first name>: store how the member likes to be addressed.
-- ARGV: 12 first name
if STATUS ~= 'active' then return { 'ok', 'ignored' } end
redis.call('HSET', MKEY, 'first_name', ARGV[12])
reply('transactional', 'name', { first_name = ARGV[12], balance = balance() })
return { 'ok', 'named' }
