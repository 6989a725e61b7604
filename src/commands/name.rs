//! `NAME <first name>` (NOMBRE, NOME, اسم).

use super::{Command, Parsed, Text};
use crate::domain::keyword::Words;

static KEYWORDS: Words = Words::new(&["NAME", "NOMBRE", "NOME", "اسم"]);
const MAX_LEN: usize = 50;

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    if !text.starts_with_word(&KEYWORDS) {
        return None;
    }
    let name = text.raw_rest();
    let valid =
        !name.is_empty() && name.chars().count() <= MAX_LEN && !name.chars().any(char::is_control);
    valid.then(|| Parsed::new(Command::Name(name.to_owned())))
}
