//! The ledger's scripts: earn, redeem, reverse, void, and reading a member.

use serde::{Deserialize, Serialize};

use super::{lua_list, script_call};

/// How a member stands with the program's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Enrolled at a till; waits for the customer to reply YES.
    Pending,
    Active,
    OptedOut,
}

/// A reward the caller knows the price of: `{id, points, valid_days}` in Lua.
#[derive(Debug, Clone, Serialize)]
pub struct RewardTerms<'a> {
    pub id: &'a str,
    pub points: i64,
    pub valid_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberSummary {
    pub phone: String,
    pub balance: i64,
    pub lifetime_points: i64,
    pub tier: String,
    pub status: MemberStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedCode {
    pub code: String,
    pub reward: String,
    pub expires_ms: i64,
}

/// A write keyed by a receipt: done now, or the stored answer to an earlier identical request.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Receipted<T> {
    Ok { result: T },
    Replay { result: T },
    Conflict,
}

/// earn.lua: credit a purchase; idempotent on (location, receipt).
#[derive(Serialize)]
pub struct Earn<'a> {
    #[serde(skip)]
    pub rules: &'a str,
    /// What "the same request" means for a replay.
    pub fingerprint: String,
    pub phone: &'a str,
    pub location: &'a str,
    pub receipt: &'a str,
    /// [`receipt_hash`] of `location` and `receipt`.
    pub receipt_hash: u32,
    pub amount: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tender: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<&'a str>,
    /// The points of this purchase at each tier of the rules, in tier order.
    pub points: Vec<i64>,
    /// Present when the program issues rewards automatically: codes are drawn from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_seed: Option<String>,
    pub receipt_ttl_secs: u64,
    pub message_ttl_secs: u64,
    /// The language of a member this earn creates.
    pub locale: &'a str,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EarnResult {
    #[serde(flatten)]
    pub member: MemberSummary,
    pub points: i64,
    /// A win-back bonus multiplied this purchase's points.
    #[serde(default)]
    pub bonus_multiplier: Option<f64>,
    #[serde(deserialize_with = "lua_list")]
    pub rewards_issued: Vec<IssuedCode>,
}

impl super::ScriptCall for Earn<'_> {
    type Reply = Receipted<EarnResult>;
    const NAME: &'static str = "earn";
    const ACKNOWLEDGED: bool = true;
    /// The hottest call: every purchase at every till.
    const ENCODING: super::ArgsEncoding = super::ArgsEncoding::MessagePack;
    fn rules(&self) -> Option<&str> {
        Some(self.rules)
    }
}

/// The number that places a receipt in its bucket (lib.lua's `Receipts.hash`): the first 32
/// bits of the SHA-1 of `<location>:<receipt>`. An earn sends it, because SHA-1 in Redis's Lua
/// (`redis.sha1hex`, then hex digits back to a number) cost some 14,000 instructions of the
/// single thread per earn; here it costs a fraction of a microsecond of the gateway's.
pub fn receipt_hash(location: &str, receipt: &str) -> u32 {
    use sha1::{Digest, Sha1};
    let digest = Sha1::new()
        .chain_update(location)
        .chain_update(":")
        .chain_update(receipt)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// redeem.lua: spend points on a reward, or use a code; idempotent on (location, receipt).
#[derive(Serialize)]
pub struct Redeem<'a> {
    #[serde(skip)]
    pub rules: &'a str,
    pub fingerprint: String,
    pub phone: &'a str,
    pub location: &'a str,
    pub receipt: &'a str,
    /// One of `reward` and `code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward: Option<RewardTerms<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    pub receipt_ttl_secs: u64,
    pub message_ttl_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Redeemed {
    pub reward: String,
    #[serde(default)]
    pub code: Option<String>,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RedeemResult {
    #[serde(flatten)]
    pub member: MemberSummary,
    pub redeemed: Redeemed,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RedeemReply {
    Ok { result: RedeemResult },
    Replay { result: RedeemResult },
    Conflict,
    MemberNotFound,
    Insufficient { balance: i64 },
    NegativeBalance { balance: i64 },
    CodeNotFound,
    CodeNotOwned,
    CodeUsed,
    CodeExpired,
}

script_call!(Redeem<'_>, "redeem", RedeemReply, acknowledged);

/// reverse.lua: a refund of an earn receipt, the rest of it or a part.
#[derive(Serialize)]
pub struct Reverse<'a> {
    #[serde(skip)]
    pub rules: &'a str,
    pub fingerprint: String,
    pub location: &'a str,
    pub receipt: &'a str,
    /// This refund's key among the receipt's refunds.
    pub refund_id: &'a str,
    /// A partial refund in minor units; absent for "the rest".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    pub message_ttl_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReverseResult {
    #[serde(flatten)]
    pub member: MemberSummary,
    pub points: i64,
    /// This refund, in minor units.
    pub amount: i64,
    /// Refunded on this receipt so far, this refund included.
    pub refunded: i64,
    /// Still refundable.
    pub remaining: i64,
    pub refund_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReverseReply {
    Ok { result: ReverseResult },
    Replay { result: ReverseResult },
    NotFound,
    Conflict,
    NothingLeft,
    Exceeds { left: i64 },
    NoAmount,
}

script_call!(Reverse<'_>, "reverse", ReverseReply, acknowledged);

/// void.lua: undo a redemption, once.
#[derive(Serialize)]
pub struct Void<'a> {
    #[serde(skip)]
    pub rules: &'a str,
    pub location: &'a str,
    pub receipt: &'a str,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VoidResult {
    #[serde(flatten)]
    pub member: MemberSummary,
    pub voided: Redeemed,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum VoidReply {
    Ok { result: VoidResult },
    Replay { result: VoidResult },
    NotFound,
}

script_call!(Void<'_>, "void", VoidReply, acknowledged);

/// member.lua: a member and their usable codes.
#[derive(Serialize)]
pub struct Member<'a> {
    pub phone: &'a str,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MemberRecord {
    pub phone: String,
    pub status: MemberStatus,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    pub balance: i64,
    #[serde(rename = "lifetime")]
    pub lifetime_points: i64,
    #[serde(default)]
    pub tier: Option<String>,
    pub visits: i64,
    pub joined_at: String,
    #[serde(default)]
    pub last_visit_at: Option<String>,
    #[serde(deserialize_with = "lua_list")]
    pub rewards: Vec<IssuedCode>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MemberReply {
    Found { member: MemberRecord },
    NotFound,
}

script_call!(Member<'_>, "member", MemberReply);

/// adjust.lua: an admin's signed change to a balance, audited; idempotent on its key if given.
#[derive(Serialize)]
pub struct Adjust<'a> {
    #[serde(skip)]
    pub rules: &'a str,
    pub fingerprint: String,
    pub phone: &'a str,
    pub points: i64,
    pub reason: &'a str,
    /// The acting API key's name, recorded in history.
    pub by: &'a str,
    pub allow_negative: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<&'a str>,
    pub receipt_ttl_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AdjustReply {
    Ok { result: MemberSummary },
    Replay { result: MemberSummary },
    Conflict,
    MemberNotFound,
    Insufficient { balance: i64 },
}

script_call!(Adjust<'_>, "adjust", AdjustReply, acknowledged);

/// erase.lua: erase a member's personal data (see the script).
#[derive(Serialize)]
pub struct Erase<'a> {
    pub phone: &'a str,
    /// The acting API key's name, recorded in the kept consent record.
    pub by: &'a str,
    /// The program's erasure key if it has none yet (random, from the caller).
    pub key_candidate: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EraseReply {
    Erased,
    MemberNotFound,
}

script_call!(Erase<'_>, "erase", EraseReply, acknowledged_without_rules);

/// consent.lua: a number's consent record, a member's or, once erased, the one kept.
#[derive(Serialize)]
pub struct Consent<'a> {
    pub phone: &'a str,
}

/// Where a number stands, for its consent record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Pending,
    Active,
    OptedOut,
    /// The member was erased; the number is suppressed.
    Erased,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ConsentReply {
    Found {
        standing: Standing,
        /// JSON documents, newest first.
        #[serde(deserialize_with = "lua_list")]
        records: Vec<String>,
    },
    NotFound,
}

script_call!(Consent<'_>, "consent", ConsentReply);

/// receipt_sweep.lua: part of the day's pass that forgets earn receipts past their retention.
#[derive(Serialize)]
pub struct SweepReceipts {
    /// Buckets to read in this call.
    pub buckets: u32,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SweepReceiptsReply {
    /// Today's pass was already complete.
    Idle,
    /// The pass went on and is not complete.
    Partial { removed: u64 },
    /// The pass is complete.
    Done { removed: u64 },
}

script_call!(SweepReceipts, "receipt_sweep", SweepReceiptsReply);
