//! BAL, BALANCE, POINTS (SALDO, PUNTOS, PONTOS, رصيد, نقاط).

use super::{Command, Parsed, Text};
use crate::domain::keyword::Words;

static KEYWORDS: Words = Words::new(&[
    "BAL", "BALANCE", "POINTS", "PTS", "SALDO", "PUNTOS", "PONTOS", "رصيد", "نقاط",
]);

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    text.starts_with_word(&KEYWORDS)
        .then(|| Parsed::new(Command::Balance))
}
