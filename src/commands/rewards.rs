//! REWARDS (PREMIOS, PRÊMIOS, RECOMPENSAS, مكافآت): the catalogue and the member's codes.

use super::{Command, Parsed, Text};
use crate::domain::keyword::Words;

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
