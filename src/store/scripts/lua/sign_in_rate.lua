-- Failed dashboard sign-ins per client address (src/web/session.rs), on the key base
-- "<prefix>:{signin}:" rather than a program's: no program is known before a key is. With
-- A.failed, counts one failure. Answers `limited` when the address may not try again yet (the
-- next failure would be over A.count in A.window_ms). Arguments:
-- store::scripts::members::SignInRate.
local key = K.sign_in_rate(A.client)
if A.failed then within_rate(key, A.count, A.window_ms) end
local tat = tonumber(redis.call('GET', key) or '0')
if tat - NOW_MS > A.window_ms - A.window_ms / A.count then return reply({ status = 'limited' }) end
return reply({ status = 'ok' })
