//! REFER (REFERIR, INDICAR, إحالة): the member's own join word, to pass on to friends.

use super::{Command, Parsed, Text};
use crate::domain::keyword::Words;

static KEYWORDS: Words = Words::new(&["REFER", "REFERIR", "INDICAR", "إحالة"]);

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    text.is(&KEYWORDS).then(|| Parsed::new(Command::Refer))
}
