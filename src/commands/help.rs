//! HELP, INFO (AYUDA, AJUDA, مساعدة): answered to anyone.

use super::{sms_script, Command, Parsed, Text};
use crate::domain::keyword::Words;

pub(super) static SCRIPT: std::sync::LazyLock<redis::Script> =
    sms_script!("commands/scripts/help.lua");

static KEYWORDS: Words = Words::new(&["HELP", "INFO", "AYUDA", "AJUDA", "مساعدة"]);

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    text.starts_with_word(&KEYWORDS)
        .then(|| Parsed::new(Command::Help))
}
