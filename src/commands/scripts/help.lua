-- HELP, INFO: answered to anyone, member or not, opted out or not (CTIA).
reply('reply_any', 'help', { balance = balance() })
return { 'ok', 'help' }
