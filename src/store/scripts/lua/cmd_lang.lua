-- LANG <code>: the member's language for every later text (this reply included).
-- A.locale is absent when the language asked for is not one we ship.
if STATUS ~= 'active' then return done('ignored') end
if not A.locale then
  reply_text('transactional', 'unknown', { balance = balance() })
  return done('unknown_language')
end
redis.call('HSET', MKEY, 'locale', A.locale)
reply_text('transactional', 'lang', { balance = balance() })
return done('language')
