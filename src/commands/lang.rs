//! LANG <language> (IDIOMA, LINGUA, لغة): the member's language for later texts.

use super::{sms_script, Command, Parsed, Text};

pub(super) static SCRIPT: std::sync::LazyLock<redis::Script> =
    sms_script!("commands/scripts/lang.lua");

const KEYWORDS: &[&str] = &["LANG", "LANGUAGE", "IDIOMA", "LINGUA", "لغة"];

const LANGUAGES: &[(&str, &str)] = &[
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
];

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    if !text.starts_with_word(KEYWORDS) {
        return None;
    }
    let wanted = text.rest();
    let locale = LANGUAGES
        .iter()
        .find(|(name, _)| super::fold(name) == wanted)
        .map(|(_, locale)| *locale);
    Some(Parsed::new(Command::Lang(locale)))
}
