//! The Redis key layout, mirrored by `scripts/lib.lua` (keep the two in step).
//!
//! Every key of a program starts with `<prefix>:{<program>}:`. The braces make the program id
//! the Redis Cluster hash tag, so a member's keys, the receipt records that point at them and the
//! program's outbox stream all live in one slot, and one script can change them atomically.
//! The cost is that one program is served by one shard; a shard handles far more than the
//! busiest chain's tills can send.
//!
//! | key                                   | type   | holds                                      |
//! |---------------------------------------|--------|--------------------------------------------|
//! | `m:<e164>`                            | hash   | member: status, balance, lifetime, tier... |
//! | `m:<e164>:ledger`                     | list   | append-only history, newest first (JSON)   |
//! | `m:<e164>:codes`                      | set    | the member's unused reward codes           |
//! | `m:<e164>:locations`                  | set    | locations the member has visited           |
//! | `m:<e164>:consent`                    | list   | opt-in/opt-out records, newest first       |
//! | `m:<e164>:messages`                   | list   | ids of the member's texts (last 200)       |
//! | `members`                             | zset   | every member, scored by join time (ms)     |
//! | `receipt:earn:<location>:<receipt>`   | hash   | idempotency + what the receipt earned      |
//! | `receipt:redeem:<location>:<receipt>` | hash   | idempotency of a redemption                |
//! | `code:<code>`                         | hash   | a reward code: owner, reward, status       |
//! | `outbox`                              | stream | ids of messages to send (consumer group)   |
//! | `outbox:delayed`                      | zset   | retries and deferred texts, by due time    |
//! | `outbox:dead`                         | stream | messages that used up every attempt        |
//! | `msg:<id>`                            | hash   | an outbound message and its delivery state |
//! | `sid:<provider id>`                   | string | provider message id → our message id       |
//! | `inbound:<provider id>`               | string | exactly-once claim of an inbound text      |
//! | `rate:<sending number>`               | string | the number's send schedule (GCRA TAT, ms)  |
//! | `seq`                                 | hash   | id counters (`msg`, `entry`)               |
//! | `stats`, `stats:loc:<location>`       | hash   | running totals for reporting               |

use chrono::{DateTime, Utc};
use redis::{Script, ScriptInvocation};

use crate::clock::rfc3339;
use crate::domain::{PhoneNumber, ProgramId};

/// The key base of one program: `<prefix>:{<program>}:`.
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

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A call of `script` on this program: KEYS[1] is the key base, ARGV[1] and ARGV[2] the time
    /// in Unix milliseconds and RFC 3339 (what `lib.lua` expects); the caller adds the rest.
    pub fn invocation<'a>(&self, script: &'a Script, now: DateTime<Utc>) -> ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.base)
            .arg(now.timestamp_millis())
            .arg(rfc3339(now));
        invocation
    }

    pub fn member(&self, phone: &PhoneNumber) -> String {
        format!("{}m:{}", self.base, phone.as_str())
    }

    pub fn member_ledger(&self, phone: &PhoneNumber) -> String {
        format!("{}m:{}:ledger", self.base, phone.as_str())
    }

    pub fn outbox(&self) -> String {
        format!("{}outbox", self.base)
    }

    pub fn message(&self, id: &str) -> String {
        format!("{}msg:{id}", self.base)
    }

    pub fn dead_letters(&self) -> String {
        format!("{}outbox:dead", self.base)
    }
}
