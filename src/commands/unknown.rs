//! Anything that is no keyword.

use super::{Command, Parsed};

pub(super) fn parse() -> Parsed {
    Parsed::new(Command::Unknown)
}
