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

pub(super) fn parse(text: &Text, program: &Program) -> Option<Parsed> {
    let word = text.normalised();
    if word == "JOIN" || program.join_keywords.iter().any(|k| k == word) {
        return Some(Parsed::new(Command::Join));
    }
    LOCALISED.get(word).map(|locale| Parsed {
        command: Command::Join,
        locale: Some(locale),
    })
}
