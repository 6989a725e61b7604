//! The outbox's scripts: claiming a message under the send-time rules, recording an attempt,
//! delays, dead letters, delivery statuses and the shared send schedule.

use serde::{Deserialize, Serialize};

use super::script_call;

/// What a text is, which decides who may receive it (see prepare.lua).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Caused by the member (a receipt, a reply): active members only.
    Transactional,
    /// HELP's answer: to anyone, opted out or not.
    ReplyAny,
    /// The one "reply YES" text to a number enrolled at a till: pending members only.
    ConsentRequest,
    /// The one text after STOP.
    OptoutConfirmation,
    /// Campaigns: active members, and only in their daytime.
    Marketing,
}

/// Where a text stands. The first ones are ours; from `sent` on, the provider's callbacks move
/// it (never backwards: see status.lua).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    /// Waiting for the recipient's daytime (marketing).
    Deferred,
    Sending,
    /// The member's status forbade it at send time.
    Suppressed,
    Accepted,
    Scheduled,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Canceled,
    Read,
}

impl MessageStatus {
    /// A provider's status word (Twilio's `MessageStatus`, Telnyx's mapped), if we track it.
    pub fn from_provider(word: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(word.to_ascii_lowercase())).ok()
    }
}

/// prepare.lua: claim a batch of messages for sending, or drop each under the send-time rules.
#[derive(Serialize)]
pub struct Prepare<'a> {
    pub messages: Vec<PrepareMessage<'a>>,
}

#[derive(Serialize)]
pub struct PrepareMessage<'a> {
    pub message_id: &'a str,
    /// The stream entry that carried it.
    pub entry: &'a str,
}

/// prepare.lua's answer: one [`PrepareReply`] per message, in the order asked.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PreparedBatch {
    Prepared {
        #[serde(deserialize_with = "super::lua_list")]
        messages: Vec<PrepareReply>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PrepareReply {
    Send(Box<Claim>),
    /// The member's status forbids this kind of text now; the message is marked suppressed.
    Suppressed {
        #[serde(default)]
        member_status: Option<String>,
    },
    /// Expired, or already sent or given up on.
    Gone,
    /// Its campaign is paused: the text waits for the campaign to resume.
    Held,
}

/// A claimed message, ready to render.
#[derive(Debug, Deserialize)]
pub struct Claim {
    pub to: String,
    pub kind: MessageKind,
    pub template: String,
    pub vars: serde_json::Value,
    pub attempts: u32,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
}

script_call!(Prepare<'_>, "prepare", PreparedBatch);

/// What one send attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Sent,
    Retry,
    Failed,
    Dead,
    /// The carrier says the handset replied STOP.
    OptedOut,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::OptedOut => "opted_out",
        }
    }
}

/// finish.lua: record a batch of attempts' outcomes and release their stream entries.
#[derive(Serialize)]
pub struct Finish<'a> {
    pub attempts: Vec<FinishAttempt<'a>>,
}

/// One attempt's outcome, for [`Finish`].
#[derive(Serialize)]
pub struct FinishAttempt<'a> {
    pub message_id: &'a str,
    pub entry: &'a str,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<&'a str>,
    pub body: &'a str,
    pub segments: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// When to try again (`Outcome::Retry`), Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<i64>,
    pub sid_ttl_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FinishReply {
    Recorded,
}

script_call!(Finish<'_>, "finish", FinishReply);

/// promote.lua: due retries and deferred texts back into the stream.
#[derive(Serialize)]
pub struct Promote {
    pub limit: u32,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PromoteReply {
    Promoted { count: usize },
}

script_call!(Promote, "promote", PromoteReply);

/// What a delivery error code says beyond "this text failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFailure {
    /// The number can never receive texts: unknown, a landline, an unreachable carrier. The
    /// member is marked undeliverable, and marketing skips them.
    Unreachable,
    /// A carrier filtered the text as spam: a campaign counts these and pauses itself when
    /// there are too many.
    Filtered,
}

impl DeliveryFailure {
    /// Twilio's (30005 unknown destination, 30006 landline or unreachable carrier, 30007
    /// filtered) and Telnyx's (40001 not routable, 40002/40003 blocked as spam) codes.
    pub fn from_error_code(code: &str) -> Option<Self> {
        match code.trim() {
            "30005" | "30006" | "40001" => Some(Self::Unreachable),
            "30007" | "40002" | "40003" => Some(Self::Filtered),
            _ => None,
        }
    }
}

/// status.lua: a provider's delivery status for the message it knows as `provider_id`.
#[derive(Serialize)]
pub struct DeliveryStatus<'a> {
    pub provider_id: &'a str,
    pub delivery: MessageStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<DeliveryFailure>,
    /// `campaigns.pause_on_filtered_percent`.
    pub pause_on_filtered_percent: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeliveryStatusReply {
    Updated,
    /// Older than what the message already has.
    Stale,
    /// No message has this provider id here.
    Unknown,
    /// A status we do not track.
    Ignored,
}

script_call!(DeliveryStatus<'_>, "status", DeliveryStatusReply);

/// gcra.lua: reserve segments on a sending number's shared schedule for a batch of texts.
#[derive(Serialize)]
pub struct Reserve<'a> {
    pub number: &'a str,
    /// One cell (segment) every this many ms.
    pub interval_ms: f64,
    pub burst: u32,
    /// Each text's segments, in sending order.
    pub cells: &'a [u32],
    pub max_wait_ms: u64,
}

/// gcra.lua's answer: one [`ReserveReply`] per text, in the order asked.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReservedBatch {
    Reserved {
        #[serde(deserialize_with = "super::lua_list")]
        waits: Vec<ReserveReply>,
    },
}

/// One text's reservation.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReserveReply {
    /// Reserved: send after `wait_ms`.
    Reserved { wait_ms: u64 },
    /// The slot is more than the caller's limit away; nothing was reserved.
    TooFar { wait_ms: u64 },
}

script_call!(Reserve<'_>, "gcra", ReservedBatch);

/// enqueue.lua: a text no ledger change causes (campaigns, operators).
#[derive(Serialize)]
pub struct Enqueue<'a> {
    pub phone: &'a str,
    pub kind: MessageKind,
    pub template: &'a str,
    pub vars: &'a serde_json::Value,
    pub ttl_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EnqueueReply {
    Queued { message_id: String },
}

script_call!(Enqueue<'_>, "enqueue", EnqueueReply);

/// defer.lua: put a claimed message back until later; not an attempt.
#[derive(Serialize)]
pub struct Defer<'a> {
    pub message_id: &'a str,
    pub entry: &'a str,
    pub until_ms: i64,
    /// What the message shows meanwhile (`queued`, `deferred`).
    pub shown_status: MessageStatus,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeferReply {
    Deferred,
    Gone,
}

script_call!(Defer<'_>, "defer", DeferReply);

/// requeue.lua: a dead letter gets a fresh set of attempts.
#[derive(Serialize)]
pub struct Requeue<'a> {
    pub message_id: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RequeueReply {
    Requeued,
    NotDead,
}

script_call!(Requeue<'_>, "requeue", RequeueReply);
