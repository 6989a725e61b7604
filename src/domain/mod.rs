//! Domain values that are parsed once, at the edge, and trusted everywhere after.
//!
//! Each type has private fields and a fallible constructor: holding a `PhoneNumber` means the
//! number parsed *and* is valid; holding an `Amount` means it is within the accepted range. The
//! HTTP and SMS layers convert wire values into these types and report a [`ParseError`] that names
//! what was wrong; nothing below the edge re-validates.

mod automation;
mod ids;
pub mod keyword;
mod money;
mod period;
mod phone;
mod program;
mod reward_code;
mod webhook;

pub use automation::{
    AutomationText, Automations, Birthday, NearReward, RewardExpiring, WelcomeStep, WinBack,
    AUTOMATION_NAMES,
};
pub use ids::{
    IdempotencyKey, LocationId, ProgramId, Receipt, RefundId, RewardId, CLIENT_KEY_PATTERN,
    SLUG_PATTERN,
};
pub use money::{Amount, Multiplier};
pub use period::Period;
pub use phone::{MaskedPhone, PhoneNumber, Region, MAX_INPUT_LEN as PHONE_MAX_LEN};
pub use program::{Expiry, Location, Program, ProgramParts, Programs, Referral, Reward, Tier};
pub use reward_code::{RewardCode, CODE_PATTERN};
pub use webhook::{parse_webhook_secret, EventType, WebhookEndpoint};

/// Why a wire value could not become a domain value. The message is safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
