//! The points ledger: members, balances, history, reward codes and receipt idempotency.
//!
//! Each state change is one script (`store/scripts/lua/`), run atomically in one round trip,
//! that also writes the text the change causes into the program's outbox stream (the library's
//! `enqueue`). The scripts are the only writers of ledger keys; this module turns commands into
//! typed script calls and typed replies into results. Arithmetic that can be done before the
//! script runs (points per tier) is done here in exact integers and passed in, so the scripts
//! only choose and record.
//!
//! Idempotency: earns and redemptions are keyed by (program, location, receipt). The first call
//! stores a fingerprint of its request and its response; a replay with the same fingerprint gets
//! the stored response back ([`Written::Replayed`]), a different request with the same receipt is
//! a [`LedgerError::ReceiptConflict`]. The check and the write happen inside one script, so fifty
//! concurrent duplicates still credit once.

pub mod history;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::configuration::LedgerSettings;
use crate::domain::{
    Amount, LocationId, PhoneNumber, Program, Receipt, RefundId, RewardCode, RewardId,
};
use crate::store::scripts::ledger::{
    receipt_hash, Adjust, AdjustReply, Consent, ConsentReply, Earn, Erase, EraseReply, Member,
    MemberReply, Receipted, Redeem, RedeemReply, Reverse, ReverseReply, RewardTerms, SweepReceipts,
    SweepReceiptsReply, Void, VoidReply,
};
pub use crate::store::scripts::ledger::{
    EarnResult, IssuedCode, MemberRecord, MemberStatus, MemberSummary, RedeemResult, Redeemed,
    ReverseResult, Standing, VoidResult,
};
use crate::store::{ProgramKeys, Store, StoreError};

/// The refund key of "everything left on the receipt" when the client names no refund.
const REST_REFUND: &str = "rest";

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
    #[error("not a reward of this program")]
    UnknownReward,
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
    #[error("the adjustment would take the balance ({balance}) below zero; set allow_negative to allow it")]
    BelowZero { balance: i64 },
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

impl<T> Receipted<T> {
    fn written(self) -> Result<Written<T>, LedgerError> {
        match self {
            Self::Ok { result } => Ok(Written::Fresh(result)),
            Self::Replay { result } => Ok(Written::Replayed(result)),
            Self::Conflict => Err(LedgerError::ReceiptConflict),
        }
    }
}

/// One line of a member's history, as stored by the scripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: String,
    /// earn, reverse, redeem, void, reward_issued, welcome, adjust, import, referral,
    /// birthday, expire
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
    /// A win-back bonus that multiplied an `earn` entry's points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bonus_multiplier: Option<f64>,
    /// The API key that made an `adjust` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
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

/// An admin's change to a balance.
pub struct AdjustCommand<'a> {
    pub phone: &'a PhoneNumber,
    /// Signed, never zero.
    pub points: i64,
    pub reason: &'a str,
    /// The acting API key's name.
    pub by: &'a str,
    pub allow_negative: bool,
    /// A retry with the same key answers the first result and changes nothing.
    pub idempotency_key: Option<&'a str>,
}

/// What a refund takes back.
pub enum Refund {
    /// Everything left on the receipt; `id` makes it one keyed refund among others.
    Rest { id: Option<RefundId> },
    /// A part of the purchase, in minor units: the proportional points.
    Partial { id: RefundId, amount: Amount },
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

/// 128 random bits from which the scripts draw reward codes (see `next_code` in lib.lua).
pub(crate) fn code_seed() -> String {
    hex::encode(rand::random::<[u8; 16]>())
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

    /// The same ledger on `store`.
    pub fn with_store(&self, store: Store) -> Self {
        Self {
            store,
            ..self.clone()
        }
    }

    async fn call<S: crate::store::scripts::ScriptCall>(
        &self,
        program: &Program,
        call: &S,
    ) -> Result<S::Reply, StoreError> {
        self.store
            .call(&self.keys(program), self.clock.now(), call)
            .await
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
        let points = program
            .tiers
            .iter()
            .map(|t| {
                cmd.amount
                    .points(program.points_per_unit, tender, t.multiplier)
            })
            .collect();
        let amount = cmd.amount.minor_units();
        let call = Earn {
            rules: program.rules_json(),
            fingerprint: fingerprint(&[
                "earn",
                cmd.phone.as_str(),
                &amount.to_string(),
                cmd.tender.as_deref().unwrap_or(""),
                cmd.first_name.as_deref().unwrap_or(""),
            ]),
            phone: cmd.phone.as_str(),
            location: cmd.location.as_str(),
            receipt: cmd.receipt.as_str(),
            receipt_hash: receipt_hash(cmd.location.as_str(), cmd.receipt.as_str()),
            amount,
            tender: cmd.tender.as_deref(),
            first_name: cmd.first_name.as_deref(),
            points,
            code_seed: program.issues_rewards_automatically().then(code_seed),
            receipt_ttl_secs: self.receipt_ttl_secs,
            message_ttl_secs: self.message_ttl_secs,
            locale: &program.locale,
        };
        self.call(program, &call).await?.written()
    }

    pub async fn redeem(
        &self,
        program: &Program,
        cmd: &RedeemCommand,
    ) -> Result<Written<RedeemResult>, LedgerError> {
        let (reward, code) = match &cmd.what {
            RedeemWhat::Reward(id) => {
                let reward = program.reward(id).ok_or(LedgerError::UnknownReward)?;
                let terms = RewardTerms {
                    id: reward.id.as_str(),
                    points: reward.points,
                    valid_days: reward.valid_days,
                };
                (Some(terms), None)
            }
            RedeemWhat::Code(code) => (None, Some(code.as_str())),
        };
        let needed = reward.as_ref().map_or(0, |r| r.points);
        let call = Redeem {
            rules: program.rules_json(),
            fingerprint: fingerprint(&[
                "redeem",
                cmd.phone.as_str(),
                if reward.is_some() { "reward" } else { "code" },
                reward.as_ref().map_or("", |r| r.id),
                code.unwrap_or(""),
            ]),
            phone: cmd.phone.as_str(),
            location: cmd.location.as_str(),
            receipt: cmd.receipt.as_str(),
            reward,
            code,
            receipt_ttl_secs: self.receipt_ttl_secs,
            message_ttl_secs: self.message_ttl_secs,
        };
        match self.call(program, &call).await? {
            RedeemReply::Ok { result } => Ok(Written::Fresh(result)),
            RedeemReply::Replay { result } => Ok(Written::Replayed(result)),
            RedeemReply::Conflict => Err(LedgerError::ReceiptConflict),
            RedeemReply::MemberNotFound => Err(LedgerError::MemberNotFound),
            RedeemReply::Insufficient { balance } => {
                Err(LedgerError::InsufficientPoints { balance, needed })
            }
            RedeemReply::NegativeBalance { balance } => {
                Err(LedgerError::NegativeBalance { balance })
            }
            RedeemReply::CodeNotFound => Err(LedgerError::CodeNotFound),
            RedeemReply::CodeNotOwned => Err(LedgerError::CodeNotOwned),
            RedeemReply::CodeUsed => Err(LedgerError::CodeUsed),
            RedeemReply::CodeExpired => Err(LedgerError::CodeExpired),
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
        let (refund_id, amount) = match refund {
            Refund::Rest { id } => (id.as_ref().map_or(REST_REFUND, RefundId::as_str), None),
            Refund::Partial { id, amount } => (id.as_str(), Some(amount.minor_units())),
        };
        let call = Reverse {
            rules: program.rules_json(),
            fingerprint: fingerprint(&[
                "reverse",
                &amount.map(|a| a.to_string()).unwrap_or_default(),
            ]),
            location: location.as_str(),
            receipt: receipt.as_str(),
            refund_id,
            amount,
            message_ttl_secs: self.message_ttl_secs,
        };
        match self.call(program, &call).await? {
            ReverseReply::Ok { result } => Ok(Written::Fresh(result)),
            ReverseReply::Replay { result } => Ok(Written::Replayed(result)),
            ReverseReply::NotFound => Err(LedgerError::ReceiptNotFound),
            ReverseReply::Conflict => Err(LedgerError::RefundConflict),
            ReverseReply::NothingLeft => Err(LedgerError::NothingLeftToRefund),
            ReverseReply::Exceeds { left } => Err(LedgerError::RefundExceedsReceipt { left }),
            ReverseReply::NoAmount => Err(LedgerError::RefundWithoutAmount),
        }
    }

    /// Undoes the redemption made with `receipt`, once.
    pub async fn void_redemption(
        &self,
        program: &Program,
        location: &LocationId,
        receipt: &Receipt,
    ) -> Result<Written<VoidResult>, LedgerError> {
        let call = Void {
            rules: program.rules_json(),
            location: location.as_str(),
            receipt: receipt.as_str(),
        };
        match self.call(program, &call).await? {
            VoidReply::Ok { result } => Ok(Written::Fresh(result)),
            VoidReply::Replay { result } => Ok(Written::Replayed(result)),
            VoidReply::NotFound => Err(LedgerError::ReceiptNotFound),
        }
    }

    pub async fn member(
        &self,
        program: &Program,
        phone: &PhoneNumber,
    ) -> Result<Option<MemberRecord>, LedgerError> {
        let call = Member {
            phone: phone.as_str(),
        };
        Ok(match self.call(program, &call).await? {
            MemberReply::Found { member } => Some(member),
            MemberReply::NotFound => None,
        })
    }

    /// The newest `limit` history entries, newest first, with the delivery state of the texts
    /// they caused.
    pub async fn history(
        &self,
        program: &Program,
        phone: &PhoneNumber,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        let keys = self.keys(program);
        let stop = limit.saturating_sub(1) as isize;
        let mut pipe = redis::pipe();
        pipe.hgetall(keys.member(phone.as_str()))
            .lrange(keys.ledger(phone.as_str()), 0, stop);
        let (member, archive): (HashMap<String, Vec<u8>>, Vec<Vec<u8>>) =
            self.store.pipeline(&pipe).await?;
        let unreadable = |problem: String| {
            StoreError::Unexpected(crate::store::Cause::Invalid {
                what: "a history entry",
                problem,
            })
        };
        let mut entries = history::entries(&member, &archive)
            .into_iter()
            .take(limit)
            .map(|entry| {
                let entry = entry.map_err(|e| unreadable(e.to_string()))?;
                serde_json::from_value(entry.into()).map_err(|e| unreadable(e.to_string()))
            })
            .collect::<Result<Vec<LedgerEntry>, _>>()?;
        self.attach_message_status(&keys, &mut entries).await?;
        Ok(entries)
    }

    /// Looks up, in one pipelined round trip, the delivery state of the texts `entries` caused.
    async fn attach_message_status(
        &self,
        keys: &ProgramKeys,
        entries: &mut [LedgerEntry],
    ) -> Result<(), LedgerError> {
        let mut pipe = redis::pipe();
        let mut with_text = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if let Some((id, bucket)) = entry
                .message_id
                .as_ref()
                .and_then(|id| Some((id, keys.final_messages(id)?)))
            {
                // A text on its way has a status in its own hash; a final one, first in its
                // compact record (outbox::FinalMessage).
                pipe.hget(keys.message(id), "status").hget(bucket, id);
                with_text.push(i);
            }
        }
        if with_text.is_empty() {
            return Ok(());
        }
        let statuses: Vec<Option<String>> = self.store.pipeline(&pipe).await?;
        for (i, pair) in with_text.into_iter().zip(statuses.chunks(2)) {
            entries[i].message_status = pair[0].clone().or_else(|| {
                pair[1]
                    .as_deref()
                    .and_then(|record| record.split('|').next())
                    .map(str::to_owned)
            });
        }
        Ok(())
    }

    /// A number's consent record, newest first (every opt-in and opt-out as stored), and
    /// where it stands; for an erased member, the record kept under its keyed hash.
    pub async fn consent(
        &self,
        program: &Program,
        phone: &PhoneNumber,
    ) -> Result<Option<(Standing, Vec<serde_json::Value>)>, LedgerError> {
        let call = Consent {
            phone: phone.as_str(),
        };
        Ok(match self.call(program, &call).await? {
            ConsentReply::Found { standing, records } => Some((
                standing,
                records
                    .iter()
                    .filter_map(|r| serde_json::from_str(r).ok())
                    .collect(),
            )),
            ConsentReply::NotFound => None,
        })
    }

    /// Adds or takes points outside a purchase, with the reason and the key's name in history.
    pub async fn adjust(
        &self,
        program: &Program,
        cmd: &AdjustCommand<'_>,
    ) -> Result<Written<MemberSummary>, LedgerError> {
        let call = Adjust {
            rules: program.rules_json(),
            fingerprint: fingerprint(&[
                "adjust",
                cmd.phone.as_str(),
                &cmd.points.to_string(),
                cmd.reason,
                if cmd.allow_negative { "1" } else { "0" },
            ]),
            phone: cmd.phone.as_str(),
            points: cmd.points,
            reason: cmd.reason,
            by: cmd.by,
            allow_negative: cmd.allow_negative,
            idempotency_key: cmd.idempotency_key,
            receipt_ttl_secs: self.receipt_ttl_secs,
        };
        match self.call(program, &call).await? {
            AdjustReply::Ok { result } => Ok(Written::Fresh(result)),
            AdjustReply::Replay { result } => Ok(Written::Replayed(result)),
            AdjustReply::Conflict => Err(LedgerError::ReceiptConflict),
            AdjustReply::MemberNotFound => Err(LedgerError::MemberNotFound),
            AdjustReply::Insufficient { balance } => Err(LedgerError::BelowZero { balance }),
        }
    }

    /// Erases the member's personal data (see `erase.lua` for what goes and what stays).
    pub async fn erase(
        &self,
        program: &Program,
        phone: &PhoneNumber,
        by: &str,
    ) -> Result<(), LedgerError> {
        let call = Erase {
            phone: phone.as_str(),
            by,
            key_candidate: hex::encode(rand::random::<[u8; 32]>()),
        };
        match self.call(program, &call).await? {
            EraseReply::Erased => Ok(()),
            EraseReply::MemberNotFound => Err(LedgerError::MemberNotFound),
        }
    }

    /// Takes the next step of today's pass over the program's earn receipts, forgetting those
    /// past `ledger.receipt_retention_days` (`receipt_sweep.lua`). Returns how many it forgot
    /// and whether today's pass is complete.
    pub async fn sweep_receipts(
        &self,
        program: &Program,
        buckets: u32,
    ) -> Result<(u64, bool), StoreError> {
        Ok(
            match self.call(program, &SweepReceipts { buckets }).await? {
                SweepReceiptsReply::Idle => (0, true),
                SweepReceiptsReply::Partial { removed } => (removed, false),
                SweepReceiptsReply::Done { removed } => (removed, true),
            },
        )
    }
}
