//! START, UNSTOP, YES (and SÍ, SIM, نعم): opt back in, or confirm a till enrolment.

use super::{Command, Parsed, Text};
use crate::domain::keyword::Tagged;

static KEYWORDS: Tagged<Option<&str>> = Tagged::new(&[
    ("START", None),
    ("UNSTOP", None),
    ("YES", None),
    ("SUBSCRIBE", None),
    ("SI", Some("es")),
    ("SIM", Some("pt")),
    ("نعم", Some("ar")),
]);

/// "YES" or "Yes please" opt in; a longer sentence that merely starts with "Si" ("if" in
/// Spanish) is not consent.
pub(super) fn parse(text: &Text) -> Option<Parsed> {
    if text.normalised().split(' ').count() > 2 {
        return None;
    }
    KEYWORDS.get(text.first_word()).map(|locale| Parsed {
        command: Command::Start,
        locale,
    })
}
