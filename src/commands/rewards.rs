//! REWARDS (PREMIOS, PRÊMIOS, RECOMPENSAS, مكافآت): the catalogue and the member's codes.

use super::{sms_script, Command, Parsed, Text};
use crate::domain::keyword::Words;

pub(super) static SCRIPT: std::sync::LazyLock<redis::Script> =
    sms_script!("commands/scripts/rewards.lua");

static KEYWORDS: Words = Words::new(&[
    "REWARDS",
    "REWARD",
    "PREMIOS",
    "PRÊMIOS",
    "RECOMPENSAS",
    "مكافآت",
]);

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    text.starts_with_word(&KEYWORDS)
        .then(|| Parsed::new(Command::Rewards))
}
