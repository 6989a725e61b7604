//! START, UNSTOP, YES (and SÍ, SIM, نعم): opt back in, or confirm a till enrolment.

use super::{sms_script, Command, Parsed, Text};

pub(super) static SCRIPT: std::sync::LazyLock<redis::Script> =
    sms_script!("commands/scripts/start.lua");

const KEYWORDS: &[(&str, Option<&str>)] = &[
    ("START", None),
    ("UNSTOP", None),
    ("YES", None),
    ("SUBSCRIBE", None),
    ("SI", Some("es")),
    ("SIM", Some("pt")),
    ("نعم", Some("ar")),
];

/// "YES" or "Yes please" opt in; a longer sentence that merely starts with "Si" ("if" in
/// Spanish) is not consent.
pub(super) fn parse(text: &Text) -> Option<Parsed> {
    if text.normalised().split(' ').count() > 2 {
        return None;
    }
    let first = text.first_word();
    KEYWORDS
        .iter()
        .find(|(k, _)| super::fold(k) == first)
        .map(|(_, locale)| Parsed {
            command: Command::Start,
            locale: *locale,
        })
}
