-- REDEEM <reward>: spend the points now and text a single-use code for the till.
-- A.reward ({id, points, valid_days}) is absent when the member named no reward we have.
if STATUS ~= 'active' then return done('ignored') end
if not A.reward then
  reply_text('transactional', 'rewards', { balance = balance(), codes = {} })
  return done('unknown_reward')
end
local bal = balance()
if bal < A.reward.points then
  reply_text('transactional', 'balance', { balance = bal })
  return done('insufficient')
end
local code, expires_ms
code, expires_ms, bal = issue_code(PHONE, A.reward, A.code_seed, A.code_ttl_secs, nil, nil)
reply_text('transactional', 'reward_issued', { reward = A.reward.id, code = code,
  expires_ms = expires_ms, balance = bal })
return done('redeemed')
