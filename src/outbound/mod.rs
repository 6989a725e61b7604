//! Outbound delivery: the outbox stream, the sender, and the workers that run it.
//!
//! Ledger scripts append message ids to each program's `outbox` stream in the same script as
//! the change that causes the text. Every `serve` process reads the stream through one consumer
//! group (`senders`), so each entry goes to one worker; an entry is acknowledged only after its
//! outcome is recorded, and an entry whose worker died is reclaimed after
//! `sms.visibility_timeout_ms` (longer than the provider timeout, or a slow send would be sent
//! twice). Failed attempts wait in the `outbox:delayed` sorted set and are promoted back to the
//! stream when due; the last failure goes to the `outbox:dead` stream.
//!
//! A worker takes up to `sms.max_in_flight` entries at a time and spends three scripts on the
//! batch, not three per text: one claims them all, one reserves all their send slots, one records
//! all their outcomes once the sends are done. A worker that dies mid-batch leaves the whole batch
//! unacknowledged, so at most `sms.max_in_flight` texts can go twice.
//!
//! Send-time rules (who may receive which kind of text) are applied by `prepare.lua` atomically
//! with the member's current status: an opt-out that lands after a text was queued still stops it.
//!
//! Nothing here knows the HTTP application: the sender and the workers get what they use (the
//! outbox, templates, provider, clock, settings) when they are built.

pub mod outbox;
pub mod providers;
pub mod quiet_hours;
mod sender;
mod worker;

pub use outbox::Outbox;
pub use sender::Sender;
pub use worker::{drain, Workers};

/// The consumer group every sender reads the outbox through.
pub const GROUP: &str = "senders";

/// A stream entry: (entry id, message id).
pub type Entry = (String, String);
