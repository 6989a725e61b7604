//! A loyalty program: its numbers, language, earning rules, tiers, rewards and locations.
//! Built from the configuration once; what the scripts need of it is derived then, not per
//! request.

use std::collections::BTreeMap;

use super::{LocationId, Multiplier, PhoneNumber, ProgramId, Region, RewardId};

#[derive(Debug, Clone)]
pub struct Program {
    pub id: ProgramId,
    pub name: String,
    /// Inbound numbers; the first one sends.
    pub numbers: Vec<PhoneNumber>,
    pub region: Region,
    pub timezone: chrono_tz::Tz,
    pub locale: String,
    pub help_contact: String,
    /// Join keywords, normalised as inbound texts are (`domain::keyword`).
    pub join_keywords: Vec<String>,
    pub welcome_points: i64,
    pub points_per_unit: u32,
    pub currency: String,
    pub tenders: BTreeMap<String, Multiplier>,
    /// Sorted by `min_lifetime_points`, the first always starting at 0.
    pub tiers: Vec<Tier>,
    pub rewards: Vec<Reward>,
    pub locations: Vec<Location>,
    pub referral: Option<Referral>,
    pub automations: super::Automations,
    pub expiry: Option<Expiry>,
    /// What one point is worth in `currency`: the liability of outstanding points.
    pub value_per_point: Option<rust_decimal::Decimal>,
    /// The tier table and auto-issued rewards as the scripts read them (`P` in Lua),
    /// serialised once, when the program is built: see [`Program::rules_json`].
    rules_json: String,
    auto_issue: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub name: String,
    pub min_lifetime_points: i64,
    pub multiplier: Multiplier,
}

#[derive(Debug, Clone)]
pub struct Reward {
    pub id: RewardId,
    pub points: i64,
    pub description: String,
    pub auto_issue: bool,
    pub valid_days: u32,
}

/// Points expiry: points expire `after` they were earned, oldest first (FIFO lots), with a
/// reminder text `reminder_before` when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub after: super::Period,
    pub reminder_before: Option<super::Period>,
}

#[derive(serde::Serialize)]
struct ScriptExpiry {
    after_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reminder_ms: Option<u64>,
}

/// Referrals: a member's join word brings a friend; both get `bonus_points` at the friend's
/// first purchase, at most `max_per_month` times a calendar month per referrer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Referral {
    pub bonus_points: i64,
    pub max_per_month: u32,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub id: LocationId,
    pub name: String,
}

/// The parts of a program the ledger scripts need, as they read them.
#[derive(serde::Serialize)]
struct ScriptRules<'a> {
    /// `[{name, min}]`, by `min` ascending, the first at 0.
    tiers: Vec<ScriptTier<'a>>,
    /// `[{id, points, valid_days}]`, the dearest first.
    auto_rewards: Vec<ScriptReward<'a>>,
    /// `{bonus_points, max_per_month}` when the program has referrals.
    #[serde(skip_serializing_if = "Option::is_none")]
    referral: Option<Referral>,
    /// Every reward's points, ascending (how far the next reward is).
    reward_points: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    automations: Option<super::automation::ScriptAutomations>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry: Option<ScriptExpiry>,
}

#[derive(serde::Serialize)]
struct ScriptTier<'a> {
    name: &'a str,
    min: i64,
}

#[derive(serde::Serialize)]
struct ScriptReward<'a> {
    id: &'a str,
    points: i64,
    valid_days: u32,
}

/// Everything a program is made of, checked (see `configuration`).
#[derive(Debug, Clone)]
pub struct ProgramParts {
    pub id: ProgramId,
    pub name: String,
    pub numbers: Vec<PhoneNumber>,
    pub region: Region,
    pub timezone: chrono_tz::Tz,
    pub locale: String,
    pub help_contact: String,
    pub join_keywords: Vec<String>,
    pub welcome_points: i64,
    pub points_per_unit: u32,
    pub currency: String,
    pub tenders: BTreeMap<String, Multiplier>,
    pub tiers: Vec<Tier>,
    pub rewards: Vec<Reward>,
    pub locations: Vec<Location>,
    pub referral: Option<Referral>,
    pub automations: super::Automations,
    pub expiry: Option<Expiry>,
    pub value_per_point: Option<rust_decimal::Decimal>,
}

impl Program {
    /// The program, with what is derived from its parts computed once.
    pub fn new(parts: ProgramParts) -> Self {
        let mut auto_rewards: Vec<ScriptReward<'_>> = parts
            .rewards
            .iter()
            .filter(|r| r.auto_issue)
            .map(|r| ScriptReward {
                id: r.id.as_str(),
                points: r.points,
                valid_days: r.valid_days,
            })
            .collect();
        auto_rewards.sort_by_key(|r| std::cmp::Reverse(r.points));
        let auto_issue = !auto_rewards.is_empty();
        let rules = ScriptRules {
            tiers: parts
                .tiers
                .iter()
                .map(|t| ScriptTier {
                    name: &t.name,
                    min: t.min_lifetime_points,
                })
                .collect(),
            auto_rewards,
            referral: parts.referral,
            reward_points: {
                let mut points: Vec<i64> = parts.rewards.iter().map(|r| r.points).collect();
                points.sort_unstable();
                points
            },
            automations: parts.automations.script(),
            expiry: parts.expiry.map(|e| ScriptExpiry {
                after_ms: e.after.as_millis(),
                reminder_ms: e.reminder_before.map(|r| r.as_millis()),
            }),
        };
        let rules_json = serde_json::to_string(&rules).expect("plain data serialises");
        let ProgramParts {
            id,
            name,
            numbers,
            region,
            timezone,
            locale,
            help_contact,
            join_keywords,
            welcome_points,
            points_per_unit,
            currency,
            tenders,
            tiers,
            rewards,
            locations,
            referral,
            automations,
            expiry,
            value_per_point,
        } = parts;
        Self {
            id,
            name,
            numbers,
            region,
            timezone,
            locale,
            help_contact,
            join_keywords,
            welcome_points,
            points_per_unit,
            currency,
            tenders,
            tiers,
            rewards,
            locations,
            referral,
            automations,
            expiry,
            value_per_point,
            rules_json,
            auto_issue,
        }
    }

    /// The tier table and the auto-issued rewards, as JSON for the scripts.
    pub fn rules_json(&self) -> &str {
        &self.rules_json
    }

    /// Whether an earn can issue a reward code by itself.
    pub fn issues_rewards_automatically(&self) -> bool {
        self.auto_issue
    }

    pub fn sending_number(&self) -> Option<&PhoneNumber> {
        self.numbers.first()
    }

    pub fn location(&self, id: &LocationId) -> Option<&Location> {
        self.locations.iter().find(|l| &l.id == id)
    }

    pub fn reward(&self, id: &RewardId) -> Option<&Reward> {
        self.rewards.iter().find(|r| &r.id == id)
    }

    /// What a customer reads for the reward with this stored id (the id itself when it is no
    /// longer in the catalogue).
    pub fn reward_description(&self, id: &str) -> String {
        RewardId::parse(id)
            .ok()
            .and_then(|id| self.reward(&id))
            .map(|r| r.description.clone())
            .unwrap_or_else(|| id.to_owned())
    }

    /// The tier a member with `lifetime_points` is in.
    pub fn tier_for(&self, lifetime_points: i64) -> &Tier {
        self.tiers
            .iter()
            .rev()
            .find(|t| lifetime_points >= t.min_lifetime_points)
            .unwrap_or(&self.tiers[0])
    }

    /// The cheapest reward the member cannot afford yet, and how many points it still needs.
    pub fn next_reward(&self, balance: i64) -> Option<(&Reward, i64)> {
        self.rewards
            .iter()
            .filter(|r| r.points > balance)
            .min_by_key(|r| r.points)
            .map(|r| (r, r.points - balance.max(0)))
    }
}

/// Every configured program, found by id or by one of its numbers.
#[derive(Debug, Default)]
pub struct Programs {
    by_id: std::collections::HashMap<ProgramId, std::sync::Arc<Program>>,
    by_number: std::collections::HashMap<PhoneNumber, ProgramId>,
    /// In configuration order.
    ordered: Vec<std::sync::Arc<Program>>,
}

impl Programs {
    pub fn new(programs: &[Program]) -> Self {
        let ordered: Vec<_> = programs
            .iter()
            .map(|p| std::sync::Arc::new(p.clone()))
            .collect();
        Self {
            by_id: ordered.iter().map(|p| (p.id.clone(), p.clone())).collect(),
            by_number: programs
                .iter()
                .flat_map(|p| p.numbers.iter().map(|n| (n.clone(), p.id.clone())))
                .collect(),
            ordered,
        }
    }

    pub fn get(&self, id: &ProgramId) -> Option<std::sync::Arc<Program>> {
        self.by_id.get(id).cloned()
    }

    /// The program that owns `number` (the `To` of an inbound text).
    pub fn for_number(&self, number: &PhoneNumber) -> Option<std::sync::Arc<Program>> {
        self.by_number.get(number).and_then(|id| self.get(id))
    }

    /// One of our own numbers: never a customer (two gateways would talk forever).
    pub fn is_own_number(&self, number: &PhoneNumber) -> bool {
        self.by_number.contains_key(number)
    }

    pub fn iter(&self) -> impl Iterator<Item = &std::sync::Arc<Program>> {
        self.ordered.iter()
    }
}
