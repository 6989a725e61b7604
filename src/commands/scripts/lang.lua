-- LANG <code>: the member's language for every later text (this reply included).
-- ARGV: 12 locale ('' when not one we ship)
if STATUS ~= 'active' then return { 'ok', 'ignored' } end
if ARGV[12] == '' then
  reply('transactional', 'unknown', { balance = balance() })
  return { 'ok', 'unknown_language' }
end
redis.call('HSET', MKEY, 'locale', ARGV[12])
reply('transactional', 'lang', { balance = balance() })
return { 'ok', 'language' }
