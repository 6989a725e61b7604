//! HELP, INFO (AYUDA, AJUDA, مساعدة): answered to anyone.

use super::{Command, Parsed, Text};
use crate::domain::keyword::Words;

static KEYWORDS: Words = Words::new(&["HELP", "INFO", "AYUDA", "AJUDA", "مساعدة"]);

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    text.starts_with_word(&KEYWORDS)
        .then(|| Parsed::new(Command::Help))
}
