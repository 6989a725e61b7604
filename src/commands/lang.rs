//! `LANG <language>` (IDIOMA, LINGUA, لغة): the member's language for later texts.

use super::{Command, Parsed, Text};
use crate::domain::keyword::{Tagged, Words};

static KEYWORDS: Words = Words::new(&["LANG", "LANGUAGE", "IDIOMA", "LINGUA", "لغة"]);

static LANGUAGES: Tagged<&str> = Tagged::new(&[
    ("EN", "en"),
    ("ENGLISH", "en"),
    ("INGLES", "en"),
    ("ES", "es"),
    ("ESPANOL", "es"),
    ("SPANISH", "es"),
    ("CASTELLANO", "es"),
    ("PT", "pt"),
    ("PORTUGUES", "pt"),
    ("PORTUGUESE", "pt"),
    ("AR", "ar"),
    ("ARABIC", "ar"),
    ("العربية", "ar"),
    ("عربي", "ar"),
]);

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    if !text.starts_with_word(&KEYWORDS) {
        return None;
    }
    Some(Parsed::new(Command::Lang(LANGUAGES.get(text.rest()))))
}
