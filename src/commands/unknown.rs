//! Anything that is no keyword.

use super::{sms_script, Command, Parsed};

pub(super) static SCRIPT: std::sync::LazyLock<redis::Script> =
    sms_script!("commands/scripts/unknown.lua");

pub(super) fn parse() -> Parsed {
    Parsed::new(Command::Unknown)
}
