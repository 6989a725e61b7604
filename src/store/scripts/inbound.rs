//! The SMS commands' scripts: the shared prelude (exactly-once claim of the provider's message
//! id, consent, the reply cap, opting in) followed by one command.

use serde::{Deserialize, Serialize};

use super::ledger::RewardTerms;
use super::ScriptCall;

/// Which command's script runs after the prelude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandScript {
    Join,
    Stop,
    Start,
    Help,
    Balance,
    Rewards,
    Redeem,
    Name,
    Lang,
    Refer,
    Birthday,
    Unknown,
}

/// One inbound text's effect, for one command.
#[derive(Serialize)]
pub struct Inbound<'a> {
    #[serde(skip)]
    pub rules: &'a str,
    #[serde(skip)]
    pub command: CommandScript,
    /// The provider's message id: processed once.
    pub provider_id: &'a str,
    pub phone: &'a str,
    /// The text as it arrived (kept in consent records).
    pub text: &'a str,
    pub message_ttl_secs: u64,
    pub max_replies_per_hour: u32,
    /// The language the keyword was in, when it says one (`ÚNETE` is es).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword_locale: Option<&'a str>,
    pub welcome_points: i64,
    pub program_locale: &'a str,
    /// The number's limit of texts a minute, shared by every process; absent for STOP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u32>,
    #[serde(flatten)]
    pub args: CommandArgs<'a>,
}

/// What a command adds to the prelude's arguments.
#[derive(Serialize)]
#[serde(untagged)]
pub enum CommandArgs<'a> {
    None {},
    Join {
        /// A member's join word ("ANA7" of "JOIN ANA7"), normalised to upper case.
        referral: &'a str,
    },
    Birthday {
        /// `MM-DD`.
        birthday: &'a str,
    },
    Refer {
        /// The keyword friends text, and the number they text it to.
        join_word: &'a str,
        number: &'a str,
    },
    Redeem {
        /// Absent when the member named no reward of the program.
        #[serde(skip_serializing_if = "Option::is_none")]
        reward: Option<RewardTerms<'a>>,
        code_seed: String,
        code_ttl_secs: u64,
    },
    Name {
        first_name: &'a str,
    },
    Lang {
        /// Absent when the language is not one we ship.
        #[serde(skip_serializing_if = "Option::is_none")]
        locale: Option<&'a str>,
    },
}

/// What the command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Joined,
    AlreadyActive,
    Activated,
    OptedOut,
    AlreadyOptedOut,
    Help,
    Balance,
    Rewards,
    Redeemed,
    Insufficient,
    UnknownReward,
    Named,
    Language,
    UnknownLanguage,
    ReferralWord,
    Birthday,
    Unknown,
    /// Not for this member's status (a pending member's BAL): nothing done.
    Ignored,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum InboundReply {
    Ok {
        effect: Effect,
    },
    /// This provider message id was processed before.
    Duplicate,
    /// The number sent more than its limit this minute: claimed, nothing else done.
    RateLimited,
}

impl ScriptCall for Inbound<'_> {
    type Reply = InboundReply;
    const NAME: &'static str = "inbound";
    const ACKNOWLEDGED: bool = true;

    fn function(&self) -> &'static str {
        match self.command {
            CommandScript::Join => "inbound_join",
            CommandScript::Stop => "inbound_stop",
            CommandScript::Start => "inbound_start",
            CommandScript::Help => "inbound_help",
            CommandScript::Balance => "inbound_balance",
            CommandScript::Rewards => "inbound_rewards",
            CommandScript::Redeem => "inbound_redeem",
            CommandScript::Name => "inbound_name",
            CommandScript::Lang => "inbound_lang",
            CommandScript::Refer => "inbound_refer",
            CommandScript::Birthday => "inbound_birthday",
            CommandScript::Unknown => "inbound_unknown",
        }
    }

    fn rules(&self) -> Option<&str> {
        Some(self.rules)
    }
}
