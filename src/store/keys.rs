//! The Redis key layout: the one place it is written down. `scripts/lua/lib.lua` builds the
//! same keys with its `K` helpers, name for name, and a test holds the two to the same answers.
//!
//! Every key of a program starts with `<prefix>:{<program>}:`. The braces make the program id
//! the Redis Cluster hash tag, so a member's keys, the receipt records that point at them and the
//! program's outbox stream all live in one slot, and one script can change them atomically.
//! The cost is that one program is served by one shard; a shard handles far more than the
//! busiest chain's tills can send.
//!
//! | key (after the base)                  | helper           | type   | holds                                      |
//! |---------------------------------------|------------------|--------|--------------------------------------------|
//! | `m:<e164>`                            | `member`         | hash   | member: status, balance, lifetime, tier..., its newest history entries (fields named by number) and consent record (`consent`), packed (lib.lua's `Compact`) |
//! | `m:<e164>:ledger`                     | `ledger`         | list   | older history, newest first (packed; JSON before the packed format) |
//! | `m:<e164>:codes`                      | `codes`          | set    | the member's unused reward codes           |
//! | `m:<e164>:locations`                  | `locations`      | set    | locations visited, as kept before they became the member hash's `loc:<id>` fields |
//! | `m:<e164>:consent`                    | `consent`        | list   | earlier opt-in/opt-out records, newest first (JSON) |
//! | `m:<e164>:messages`                   | `messages`       | list   | ids of the member's texts (last 200)       |
//! | `m:<e164>:replies:<hour>`             | `replies`        | string | replies caused this hour (the reply cap)   |
//! | `m:<e164>:inrate`                     | `inbound_rate`   | string | the number's inbound schedule (GCRA TAT, ms) |
//! | `members`                             | `members`        | zset   | every member, scored by join time (ms)     |
//! | `receipts`                            | `receipt_index`  | hash   | the earn receipt buckets' size (linear hashing) and sweep |
//! | `receipts:<n>`                        | `receipt_bucket` | hash   | earn receipts, `<location>:<receipt>` → what it earned (binary) |
//! | `receipt:earn:<location>:<receipt>`   | `earn_receipt`   | hash   | an earn receipt that left its bucket: refunded, too long, erased |
//! | `receipt:redeem:<location>:<receipt>` | `redeem_receipt` | hash   | idempotency of a redemption, its void      |
//! | `code:<code>`                         | `code`           | hash   | a reward code: owner, reward, status       |
//! | `outbox`                              | `outbox`         | stream | ids of messages to send (consumer group)   |
//! | `outbox:delayed`                      | `delayed`        | zset   | retries and deferred texts, by due time    |
//! | `outbox:dead`                         | `dead`           | stream | messages that used up every attempt        |
//! | `msg:<id>`                            | `message`        | hash   | an outbound message and its delivery state, until final |
//! | `msgs:<id / 100>`                     | `final_messages` | hash   | final texts' outcomes, 100 ids a hash (see [`FinalMessage`](crate::outbound::outbox::FinalMessage)) |
//! | `sid:<provider id>`                   | `sid`            | string | provider message id → our message id       |
//! | `inbound:<provider id>`               | `inbound`        | string | exactly-once claim of an inbound text      |
//! | `rate:<sending number>`               | `rate`           | string | the number's send schedule (GCRA TAT, ms)  |
//! | `seq`                                 | `seq`            | hash   | id counters (`msg`, `entry`)               |
//! | `stats`                               | `stats`          | hash   | running totals for reporting: `<name>`, and `<name>@<location>` for a location's share |
//! | `stats:day:<YYYY-MM-DD>`              | `daily_stats`    | hash   | the same, of one day (UTC)                 |
//! | `stats:loc:<location>`                | `legacy_location_stats` | hash | a location's totals, as written before they were fields of `stats`: read, never written |
//! | `stats:loc:<location>:day:<date>`     | `legacy_location_daily_stats` | hash | the same, of one day           |
//! | `m:<e164>:marketing`                  | `marketing`      | zset   | the member's marketing texts, by time (cap) |
//! | `m:<e164>:lots`                       | `lots`           | list   | points left of each credit, oldest first (expiry) |
//! | `campaigns`                           | `campaigns`      | zset   | every campaign, by creation time           |
//! | `campaigns:active`                    | `active_campaigns` | set  | campaigns that are queueing texts          |
//! | `campaigns:scheduled`                 | `scheduled_campaigns` | zset | campaigns waiting for their send time   |
//! | `campaign:<id>`                       | `campaign`       | hash   | a campaign: definition, state, counters    |
//! | `campaign:<id>:audience`              | `audience`       | list   | its segment, fixed when it starts          |
//! | `campaign:<id>:recipients`            | `recipients`     | hash   | member → its text, `holdout`, `capped`...  |
//! | `campaign:<id>:held`                  | `held`           | zset   | its texts held while it is paused          |
//! | `campaign:<id>:clickers`              | `clickers`       | set    | members who clicked one of its links       |
//! | `link:<token>`                        | `link`           | string | a tracked link: campaign, URL, member (JSON) |
//! | `receipt:adjust:<key>`                | `adjust_receipt` | hash   | idempotency of an admin adjustment         |
//! | `suppressed`                          | `suppressed`     | set    | keyed hashes of erased numbers (never texted) |
//! | `erased:<pseudonym>:consent`          | `erased_consent` | list   | an erased member's consent record, kept    |
//! | `referral:<code>`                     | `referral`       | string | a member's join word → the member          |
//! | `auto:due`                            | `auto_due`       | zset   | automation triggers, by due time           |
//! | `join:rate:<ip:addr \| phone:e164>`    | `join_rate`      | string | the join form's limit per address and per number (GCRA TAT, ms) |
//! | `session:<SHA-256 of the cookie's id>` | `session`       | hash   | a dashboard session: key name, form token, last use |
//! | `signin:<address>` (base `{signin}`)  | `sign_in_rate`   | string | failed dashboard sign-ins from an address (GCRA TAT, ms) |
//! | `hooks`                               | `hooks`          | hash   | webhook endpoint id → what it receives (JSON) |
//! | `hook:<endpoint>`                     | `hook_queue`     | stream | events to deliver to an endpoint (consumer group) |
//! | `hook:<endpoint>:delayed`             | `hook_delayed`   | zset   | its retries, by due time                   |
//! | `hook:<endpoint>:dead`                | `hook_dead`      | stream | its events that used up every attempt      |

use crate::domain::ProgramId;

/// The keys of one program: `<prefix>:{<program>}:` and what follows. Dashboard sign-ins are
/// limited before any program is known, so their keys have a base of their own,
/// `<prefix>:{signin}:` ([`ProgramKeys::sign_in`]), one key per client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramKeys {
    base: String,
}

impl ProgramKeys {
    pub fn new(prefix: &str, program: &ProgramId) -> Self {
        Self {
            base: format!("{prefix}:{{{}}}:", program.as_str()),
        }
    }

    /// The base of the sign-in limiter's keys (see the module's table), `<prefix>:{signin}:`.
    pub fn sign_in(prefix: &str) -> Self {
        Self {
            base: format!("{prefix}:{{signin}}:"),
        }
    }

    /// `<prefix>:{<program>}:`, `KEYS[1]` of every script.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}{rest}", self.base)
    }

    pub fn member(&self, phone: &str) -> String {
        self.key(format_args!("m:{phone}"))
    }

    pub fn ledger(&self, phone: &str) -> String {
        self.key(format_args!("m:{phone}:ledger"))
    }

    pub fn codes(&self, phone: &str) -> String {
        self.key(format_args!("m:{phone}:codes"))
    }

    pub fn locations(&self, phone: &str) -> String {
        self.key(format_args!("m:{phone}:locations"))
    }

    pub fn consent(&self, phone: &str) -> String {
        self.key(format_args!("m:{phone}:consent"))
    }

    pub fn messages(&self, phone: &str) -> String {
        self.key(format_args!("m:{phone}:messages"))
    }

    pub fn replies(&self, phone: &str, hour: i64) -> String {
        self.key(format_args!("m:{phone}:replies:{hour}"))
    }

    pub fn inbound_rate(&self, phone: &str) -> String {
        self.key(format_args!("m:{phone}:inrate"))
    }

    pub fn members(&self) -> String {
        self.key(format_args!("members"))
    }

    pub fn earn_receipt(&self, location: &str, receipt: &str) -> String {
        self.key(format_args!("receipt:earn:{location}:{receipt}"))
    }

    pub fn receipt_index(&self) -> String {
        self.key(format_args!("receipts"))
    }

    pub fn receipt_bucket(&self, n: u64) -> String {
        self.key(format_args!("receipts:{n}"))
    }

    pub fn join_rate(&self, subject: &str) -> String {
        self.key(format_args!("join:rate:{subject}"))
    }

    pub fn session(&self, hash: &str) -> String {
        self.key(format_args!("session:{hash}"))
    }

    pub fn sign_in_rate(&self, client: &str) -> String {
        self.key(format_args!("signin:{client}"))
    }

    pub fn redeem_receipt(&self, location: &str, receipt: &str) -> String {
        self.key(format_args!("receipt:redeem:{location}:{receipt}"))
    }

    pub fn code(&self, code: &str) -> String {
        self.key(format_args!("code:{code}"))
    }

    pub fn outbox(&self) -> String {
        self.key(format_args!("outbox"))
    }

    pub fn delayed(&self) -> String {
        self.key(format_args!("outbox:delayed"))
    }

    pub fn dead(&self) -> String {
        self.key(format_args!("outbox:dead"))
    }

    pub fn message(&self, id: &str) -> String {
        self.key(format_args!("msg:{id}"))
    }

    /// The hash holding the final record of message `id` (`m<n>`): ids `100k` to `100k + 99`
    /// share hash `k`. `None` for what is not a message id.
    pub fn final_messages(&self, id: &str) -> Option<String> {
        let n: u64 = id.strip_prefix('m')?.parse().ok()?;
        Some(self.key(format_args!("msgs:{}", n / 100)))
    }

    pub fn sid(&self, provider_id: &str) -> String {
        self.key(format_args!("sid:{provider_id}"))
    }

    pub fn inbound(&self, provider_id: &str) -> String {
        self.key(format_args!("inbound:{provider_id}"))
    }

    pub fn rate(&self, number: &str) -> String {
        self.key(format_args!("rate:{number}"))
    }

    pub fn seq(&self) -> String {
        self.key(format_args!("seq"))
    }

    pub fn stats(&self) -> String {
        self.key(format_args!("stats"))
    }

    pub fn daily_stats(&self, day: &str) -> String {
        self.key(format_args!("stats:day:{day}"))
    }

    pub fn legacy_location_stats(&self, location: &str) -> String {
        self.key(format_args!("stats:loc:{location}"))
    }

    pub fn legacy_location_daily_stats(&self, location: &str, day: &str) -> String {
        self.key(format_args!("stats:loc:{location}:day:{day}"))
    }

    pub fn marketing(&self, phone: &str) -> String {
        self.key(format_args!("m:{phone}:marketing"))
    }

    pub fn lots(&self, phone: &str) -> String {
        self.key(format_args!("m:{phone}:lots"))
    }

    pub fn campaigns(&self) -> String {
        self.key(format_args!("campaigns"))
    }

    pub fn active_campaigns(&self) -> String {
        self.key(format_args!("campaigns:active"))
    }

    pub fn scheduled_campaigns(&self) -> String {
        self.key(format_args!("campaigns:scheduled"))
    }

    pub fn campaign(&self, id: &str) -> String {
        self.key(format_args!("campaign:{id}"))
    }

    pub fn audience(&self, id: &str) -> String {
        self.key(format_args!("campaign:{id}:audience"))
    }

    pub fn recipients(&self, id: &str) -> String {
        self.key(format_args!("campaign:{id}:recipients"))
    }

    pub fn held(&self, id: &str) -> String {
        self.key(format_args!("campaign:{id}:held"))
    }

    pub fn clickers(&self, id: &str) -> String {
        self.key(format_args!("campaign:{id}:clickers"))
    }

    pub fn link(&self, token: &str) -> String {
        self.key(format_args!("link:{token}"))
    }

    pub fn adjust_receipt(&self, key: &str) -> String {
        self.key(format_args!("receipt:adjust:{key}"))
    }

    pub fn suppressed(&self) -> String {
        self.key(format_args!("suppressed"))
    }

    pub fn erased_consent(&self, pseudonym: &str) -> String {
        self.key(format_args!("erased:{pseudonym}:consent"))
    }

    pub fn referral(&self, code: &str) -> String {
        self.key(format_args!("referral:{code}"))
    }

    pub fn auto_due(&self) -> String {
        self.key(format_args!("auto:due"))
    }

    pub fn hooks(&self) -> String {
        self.key(format_args!("hooks"))
    }

    pub fn hook_queue(&self, endpoint: &str) -> String {
        self.key(format_args!("hook:{endpoint}"))
    }

    pub fn hook_delayed(&self, endpoint: &str) -> String {
        self.key(format_args!("hook:{endpoint}:delayed"))
    }

    pub fn hook_dead(&self, endpoint: &str) -> String {
        self.key(format_args!("hook:{endpoint}:dead"))
    }
}
