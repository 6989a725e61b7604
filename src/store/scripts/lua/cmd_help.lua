-- HELP, INFO: answered to anyone, member or not, opted out or not (CTIA).
reply_text('reply_any', 'help', { balance = balance() })
return done('help')
