-- Enqueue a text that no ledger change causes (campaigns, operator messages).
-- Arguments: store::scripts::Enqueue.
local id = enqueue(A.phone, A.kind, A.template, A.vars, A.ttl_secs)
return reply({ status = 'queued', message_id = id })
