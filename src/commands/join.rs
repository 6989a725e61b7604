//! JOIN, the program's own join keywords, and their translations (which also pick the member's
//! language).

use super::{sms_script, Command, Parsed, Text};
use crate::configuration::Program;

pub(super) static SCRIPT: std::sync::LazyLock<redis::Script> =
    sms_script!("commands/scripts/join.lua");

const LOCALISED: &[(&str, &str)] = &[
    ("UNIRSE", "es"),
    ("UNIRME", "es"),
    ("ÚNETE", "es"),
    ("INSCRIBIRME", "es"),
    ("ENTRAR", "pt"),
    ("PARTICIPAR", "pt"),
    ("INSCREVER", "pt"),
    ("اشترك", "ar"),
    ("انضم", "ar"),
];

pub(super) fn parse(text: &Text, program: &Program) -> Option<Parsed> {
    let word = text.normalised();
    if word == "JOIN" || program.join_keywords.iter().any(|k| super::fold(k) == word) {
        return Some(Parsed::new(Command::Join));
    }
    LOCALISED
        .iter()
        .find(|(k, _)| super::fold(k) == word)
        .map(|(_, locale)| Parsed {
            command: Command::Join,
            locale: Some(locale),
        })
}
