-- NAME <first name>: store how the member likes to be addressed.
if STATUS ~= 'active' then return done('ignored') end
redis.call('HSET', MKEY, 'first_name', A.first_name)
reply_text('transactional', 'name', { first_name = A.first_name, balance = balance() })
return done('named')
