//! `REDEEM <reward>` (CANJEAR, RESGATAR, استبدال). Without a reward id it lists the rewards.

use super::{Command, Parsed, Text};
use crate::domain::keyword::Words;

static KEYWORDS: Words = Words::new(&["REDEEM", "CANJEAR", "RESGATAR", "استبدال"]);

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    if !text.starts_with_word(&KEYWORDS) {
        return None;
    }
    let reward = text.rest().split(' ').next().unwrap_or("");
    Some(Parsed::new(if reward.is_empty() {
        Command::Rewards
    } else {
        Command::Redeem(reward.to_owned())
    }))
}
