//! The points ledger: members, balances, history, reward codes and receipt idempotency.
//!
//! Each state change is one Lua script (`scripts/`), run atomically in one round trip, that
//! also writes the text the change causes into the program's outbox stream (see `lib.lua`'s
//! `enqueue`). The scripts are the only writers of ledger keys; this module turns typed commands
//! into script arguments and script replies into typed results. Arithmetic that can be done
//! before the script runs (points per tier, reward thresholds) is done here in exact integers and
//! passed in, so the scripts only choose and record.
//!
//! Idempotency: earns and redemptions are keyed by (program, location, receipt). The first call
//! stores a fingerprint of its request and its response; a replay with the same fingerprint gets
//! the stored response back ([`Written::Replayed`]), a different request with the same receipt is
//! a [`LedgerError::ReceiptConflict`]. The check and the write happen inside one script, so fifty
//! concurrent duplicates still credit once.

pub mod keys;

use std::sync::LazyLock;

use redis::Script;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::configuration::{LedgerSettings, Program};
use crate::domain::{Amount, LocationId, PhoneNumber, Receipt, RefundId, RewardCode, RewardId};
use crate::store::{Store, StoreError};
pub use keys::ProgramKeys;

static EARN: LazyLock<Script> = lua_script!("ledger/scripts/earn.lua");
static REDEEM: LazyLock<Script> = lua_script!("ledger/scripts/redeem.lua");
static REVERSE: LazyLock<Script> = lua_script!("ledger/scripts/reverse.lua");
static MEMBER: LazyLock<Script> = lua_script!("ledger/scripts/member.lua");
static VOID: LazyLock<Script> = lua_script!("ledger/scripts/void.lua");

/// The refund key of "everything left on the receipt" when the client names no refund.
const REST_REFUND: &str = "rest";

/// Most reward codes one earn can issue; any further threshold crossings wait for the next earn.
const MAX_CODES_PER_EARN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("this receipt was already used with a different request")]
    ReceiptConflict,
    #[error("no member with this phone number")]
    MemberNotFound,
    #[error("no purchase with this receipt at this location")]
    ReceiptNotFound,
    #[error("not enough points: the balance is {balance}")]
    InsufficientPoints { balance: i64, needed: i64 },
    #[error("the balance is negative ({balance}) after a refund, so nothing can be redeemed")]
    NegativeBalance { balance: i64 },
    #[error("no such reward code")]
    CodeNotFound,
    #[error("this reward code belongs to another member")]
    CodeNotOwned,
    #[error("this reward code was already used")]
    CodeUsed,
    #[error("this reward code has expired")]
    CodeExpired,
    #[error("this refund_id was already used with a different amount")]
    RefundConflict,
    #[error("this receipt has been refunded in full already")]
    NothingLeftToRefund,
    #[error("the refund is larger than what is left on the receipt ({left} minor units)")]
    RefundExceedsReceipt { left: i64 },
    #[error("this receipt was recorded before partial refunds existed; refund it in full")]
    RefundWithoutAmount,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A write's outcome: done now, or the stored result of an earlier identical request.
#[derive(Debug, Clone, PartialEq)]
pub enum Written<T> {
    Fresh(T),
    Replayed(T),
}

impl<T> Written<T> {
    pub fn is_replay(&self) -> bool {
        matches!(self, Self::Replayed(_))
    }

    pub fn get(&self) -> &T {
        match self {
            Self::Fresh(t) | Self::Replayed(t) => t,
        }
    }

    pub fn into_inner(self) -> T {
        match self {
            Self::Fresh(t) | Self::Replayed(t) => t,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Enrolled at a till; waits for the customer to reply YES.
    Pending,
    Active,
    OptedOut,
}

/// Lua's cjson writes an empty table as `{}`; read that as an empty list.
fn lua_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum LuaList<T> {
        List(Vec<T>),
        Empty(serde_json::Map<String, serde_json::Value>),
    }
    match LuaList::deserialize(deserializer)? {
        LuaList::List(items) => Ok(items),
        LuaList::Empty(map) if map.is_empty() => Ok(Vec::new()),
        LuaList::Empty(_) => Err(serde::de::Error::custom("expected a list")),
    }
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EarnResult {
    #[serde(flatten)]
    pub member: MemberSummary,
    pub points: i64,
    #[serde(deserialize_with = "lua_list")]
    pub rewards_issued: Vec<IssuedCode>,
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReverseResult {
    #[serde(flatten)]
    pub member: MemberSummary,
    pub points: i64,
    /// This refund, in minor units.
    #[serde(default)]
    pub amount: i64,
    /// Refunded on this receipt so far, this refund included.
    #[serde(default)]
    pub refunded: i64,
    /// Still refundable.
    #[serde(default)]
    pub remaining: i64,
    pub refund_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VoidResult {
    #[serde(flatten)]
    pub member: MemberSummary,
    pub voided: Redeemed,
}

/// What a refund takes back.
pub enum Refund {
    /// Everything left on the receipt; `id` makes it one keyed refund among others.
    Rest { id: Option<RefundId> },
    /// A part of the purchase, in minor units: the proportional points.
    Partial { id: RefundId, amount: Amount },
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

/// One line of a member's history, as stored by the scripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: String,
    /// earn, reverse, redeem, void, reward_issued, welcome, adjust
    #[serde(rename = "type")]
    pub kind: String,
    /// Signed change to the balance.
    pub points: i64,
    /// Balance after this entry.
    pub balance: i64,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    #[serde(default, skip_serializing_if = "is_blank")]
    pub tender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The refund a `reverse` entry belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// The text this entry caused, if any...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// ...and its delivery state now (queued, sent, delivered, suppressed, failed...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_status: Option<String>,
}

fn is_blank(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

pub struct EarnCommand {
    pub phone: PhoneNumber,
    pub amount: Amount,
    pub location: LocationId,
    pub receipt: Receipt,
    /// A tender name the program defines.
    pub tender: Option<String>,
    pub first_name: Option<String>,
}

pub enum RedeemWhat {
    Reward(RewardId),
    Code(RewardCode),
}

pub struct RedeemCommand {
    pub phone: PhoneNumber,
    pub location: LocationId,
    pub receipt: Receipt,
    pub what: RedeemWhat,
}

#[derive(Clone)]
pub struct Ledger {
    store: Store,
    prefix: String,
    clock: Clock,
    receipt_ttl_secs: u64,
    message_ttl_secs: u64,
}

/// Hex SHA-256 over the request's canonical fields: what "the same body" means for a replay.
fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn parse_reply<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T, LedgerError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Unexpected(format!("ledger script reply: {e}")).into())
}

impl Ledger {
    pub fn new(store: Store, prefix: &str, clock: Clock, settings: &LedgerSettings) -> Self {
        Self {
            store,
            prefix: prefix.to_owned(),
            clock,
            receipt_ttl_secs: settings.receipt_retention_days * 86_400,
            message_ttl_secs: settings.message_retention_days * 86_400,
        }
    }

    pub fn keys(&self, program: &Program) -> ProgramKeys {
        ProgramKeys::new(&self.prefix, &program.id)
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn invocation<'a>(&self, script: &'a Script, program: &Program) -> redis::ScriptInvocation<'a> {
        self.keys(program).invocation(script, self.clock.now())
    }

    async fn run(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<(String, String), LedgerError> {
        Ok(self.store.invoke(invocation).await?)
    }

    pub async fn earn(
        &self,
        program: &Program,
        cmd: &EarnCommand,
    ) -> Result<Written<EarnResult>, LedgerError> {
        let tender = match &cmd.tender {
            Some(name) => program.tenders.get(name).copied().unwrap_or_default(),
            None => Default::default(),
        };
        let tiers: Vec<(&str, i64, i64)> = program
            .tiers
            .iter()
            .map(|t| {
                let points = cmd
                    .amount
                    .points(program.points_per_unit, tender, t.multiplier);
                (t.name.as_str(), t.min_lifetime_points, points)
            })
            .collect();
        let mut auto_rewards: Vec<(&str, i64, u32)> = program
            .rewards
            .iter()
            .filter(|r| r.auto_issue)
            .map(|r| (r.id.as_str(), r.points, r.valid_days))
            .collect();
        auto_rewards.sort_by_key(|r| std::cmp::Reverse(r.1));
        let codes: Vec<String> = if auto_rewards.is_empty() {
            Vec::new()
        } else {
            (0..MAX_CODES_PER_EARN)
                .map(|_| RewardCode::generate().as_str().to_owned())
                .collect()
        };
        let amount = cmd.amount.minor_units().to_string();
        let fp = fingerprint(&[
            "earn",
            cmd.phone.as_str(),
            &amount,
            cmd.tender.as_deref().unwrap_or(""),
            cmd.first_name.as_deref().unwrap_or(""),
        ]);
        let mut invocation = self.invocation(&EARN, program);
        invocation
            .arg(fp)
            .arg(cmd.phone.as_str())
            .arg(cmd.location.as_str())
            .arg(cmd.receipt.as_str())
            .arg(amount)
            .arg(cmd.tender.as_deref().unwrap_or(""))
            .arg(cmd.first_name.as_deref().unwrap_or(""))
            .arg(json(&tiers))
            .arg(json(&auto_rewards))
            .arg(json(&codes))
            .arg(self.receipt_ttl_secs)
            .arg(self.message_ttl_secs)
            .arg(&program.locale);
        let (status, body) = self.run(invocation).await?;
        match status.as_str() {
            "ok" => Ok(Written::Fresh(parse_reply(&body)?)),
            "replay" => Ok(Written::Replayed(parse_reply(&body)?)),
            "conflict" => Err(LedgerError::ReceiptConflict),
            other => Err(unexpected_status("earn", other)),
        }
    }

    pub async fn redeem(
        &self,
        program: &Program,
        cmd: &RedeemCommand,
    ) -> Result<Written<RedeemResult>, LedgerError> {
        let (mode, reward_id, reward_points, code) = match &cmd.what {
            RedeemWhat::Reward(id) => {
                let points = program.reward(id).map(|r| r.points).unwrap_or(i64::MAX);
                ("reward", id.as_str(), points, "")
            }
            RedeemWhat::Code(code) => ("code", "", 0, code.as_str()),
        };
        let fp = fingerprint(&["redeem", cmd.phone.as_str(), mode, reward_id, code]);
        let mut invocation = self.invocation(&REDEEM, program);
        invocation
            .arg(fp)
            .arg(cmd.phone.as_str())
            .arg(cmd.location.as_str())
            .arg(cmd.receipt.as_str())
            .arg(mode)
            .arg(reward_id)
            .arg(reward_points)
            .arg(code)
            .arg(self.receipt_ttl_secs)
            .arg(self.message_ttl_secs);
        let (status, body) = self.run(invocation).await?;
        let balance = || body.parse().unwrap_or(0);
        match status.as_str() {
            "ok" => Ok(Written::Fresh(parse_reply(&body)?)),
            "replay" => Ok(Written::Replayed(parse_reply(&body)?)),
            "conflict" => Err(LedgerError::ReceiptConflict),
            "member_not_found" => Err(LedgerError::MemberNotFound),
            "insufficient" => Err(LedgerError::InsufficientPoints {
                balance: balance(),
                needed: reward_points,
            }),
            "negative_balance" => Err(LedgerError::NegativeBalance { balance: balance() }),
            "code_not_found" => Err(LedgerError::CodeNotFound),
            "code_not_owned" => Err(LedgerError::CodeNotOwned),
            "code_used" => Err(LedgerError::CodeUsed),
            "code_expired" => Err(LedgerError::CodeExpired),
            other => Err(unexpected_status("redeem", other)),
        }
    }

    /// A refund of `receipt`: all that is left of it, or a partial refund.
    pub async fn reverse(
        &self,
        program: &Program,
        location: &LocationId,
        receipt: &Receipt,
        refund: &Refund,
    ) -> Result<Written<ReverseResult>, LedgerError> {
        let tiers: Vec<(&str, i64)> = program
            .tiers
            .iter()
            .map(|t| (t.name.as_str(), t.min_lifetime_points))
            .collect();
        let (key, amount) = match refund {
            Refund::Rest { id } => (id.as_ref().map_or(REST_REFUND, RefundId::as_str), None),
            Refund::Partial { id, amount } => (id.as_str(), Some(amount.minor_units())),
        };
        let amount = amount.map(|a| a.to_string()).unwrap_or_default();
        let fp = fingerprint(&["reverse", &amount]);
        let mut invocation = self.invocation(&REVERSE, program);
        invocation
            .arg(location.as_str())
            .arg(receipt.as_str())
            .arg(json(&tiers))
            .arg(self.message_ttl_secs)
            .arg(key)
            .arg(&amount)
            .arg(fp);
        let (status, body) = self.run(invocation).await?;
        match status.as_str() {
            "ok" => Ok(Written::Fresh(parse_reply(&body)?)),
            "replay" => Ok(Written::Replayed(parse_reply(&body)?)),
            "not_found" => Err(LedgerError::ReceiptNotFound),
            "conflict" => Err(LedgerError::RefundConflict),
            "nothing_left" => Err(LedgerError::NothingLeftToRefund),
            "exceeds" => Err(LedgerError::RefundExceedsReceipt {
                left: body.parse().unwrap_or(0),
            }),
            "no_amount" => Err(LedgerError::RefundWithoutAmount),
            other => Err(unexpected_status("reverse", other)),
        }
    }

    /// Undoes the redemption made with `receipt`, once.
    pub async fn void_redemption(
        &self,
        program: &Program,
        location: &LocationId,
        receipt: &Receipt,
    ) -> Result<Written<VoidResult>, LedgerError> {
        let mut invocation = self.invocation(&VOID, program);
        invocation.arg(location.as_str()).arg(receipt.as_str());
        let (status, body) = self.run(invocation).await?;
        match status.as_str() {
            "ok" => Ok(Written::Fresh(parse_reply(&body)?)),
            "replay" => Ok(Written::Replayed(parse_reply(&body)?)),
            "not_found" => Err(LedgerError::ReceiptNotFound),
            other => Err(unexpected_status("void", other)),
        }
    }

    pub async fn member(
        &self,
        program: &Program,
        phone: &PhoneNumber,
    ) -> Result<Option<MemberRecord>, LedgerError> {
        let mut invocation = self.invocation(&MEMBER, program);
        invocation.arg(phone.as_str());
        let body: String = self.store.invoke(invocation).await?;
        if body.is_empty() {
            return Ok(None);
        }
        parse_reply(&body).map(Some)
    }

    /// The newest `limit` history entries, newest first.
    pub async fn history(
        &self,
        program: &Program,
        phone: &PhoneNumber,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        let key = self.keys(program).member_ledger(phone);
        let mut conn = self.store.conn();
        let stop = limit.saturating_sub(1) as isize;
        let raw: Vec<String> = self
            .store
            .run(async move {
                redis::cmd("LRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(stop)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let mut entries: Vec<LedgerEntry> = raw
            .iter()
            .map(|entry| parse_reply(entry))
            .collect::<Result<_, _>>()?;
        self.attach_message_status(program, &mut entries).await?;
        Ok(entries)
    }

    /// Looks up, in one pipelined round trip, the delivery state of the texts `entries` caused.
    async fn attach_message_status(
        &self,
        program: &Program,
        entries: &mut [LedgerEntry],
    ) -> Result<(), LedgerError> {
        let keys = self.keys(program);
        let mut pipe = redis::pipe();
        let mut with_text = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if let Some(id) = &entry.message_id {
                pipe.hget(keys.message(id), "status");
                with_text.push(i);
            }
        }
        if with_text.is_empty() {
            return Ok(());
        }
        let mut conn = self.store.conn();
        let statuses: Vec<Option<String>> = self
            .store
            .run(async move { pipe.query_async(&mut conn).await })
            .await?;
        for (i, status) in with_text.into_iter().zip(statuses) {
            entries[i].message_status = status;
        }
        Ok(())
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serialises")
}

fn unexpected_status(script: &str, status: &str) -> LedgerError {
    StoreError::Unexpected(format!("{script} script returned {status:?}")).into()
}
