-- Enqueue a text that no ledger change causes (campaigns, operator messages).
-- ARGV: 3 phone, 4 kind, 5 template, 6 vars (JSON object), 7 ttl s
return enqueue(ARGV[3], ARGV[4], ARGV[5], cjson.decode(ARGV[6]), tonumber(ARGV[7]))
