//! JOIN, the program's own join keywords, and their translations (which also pick the member's
//! language).

use super::{Command, Parsed, Text};
use crate::domain::keyword::Tagged;
use crate::domain::Program;

static LOCALISED: Tagged<&str> = Tagged::new(&[
    ("UNIRSE", "es"),
    ("UNIRME", "es"),
    ("ÚNETE", "es"),
    ("INSCRIBIRME", "es"),
    ("ENTRAR", "pt"),
    ("PARTICIPAR", "pt"),
    ("INSCREVER", "pt"),
    ("اشترك", "ar"),
    ("انضم", "ar"),
]);

/// Longest join word a member can pass on (four letters and a counter).
const MAX_REFERRAL: usize = 16;

pub(super) fn parse(text: &Text, program: &Program) -> Option<Parsed> {
    let is_join = |word: &str| word == "JOIN" || program.join_keywords.iter().any(|k| k == word);
    let word = text.normalised();
    if is_join(word) {
        return Some(Parsed::new(Command::Join(None)));
    }
    // "JOIN ANA7": a friend's join word.
    let referral = text.rest();
    let is_word = !referral.is_empty()
        && referral.len() <= MAX_REFERRAL
        && referral.chars().all(|c| c.is_ascii_alphanumeric());
    if is_join(text.first_word()) && is_word {
        return Some(Parsed::new(Command::Join(Some(
            referral.to_ascii_uppercase(),
        ))));
    }
    LOCALISED.get(word).map(|locale| Parsed {
        command: Command::Join(None),
        locale: Some(locale),
    })
}
