//! The inbound side: provider webhook signatures; the commands themselves are in `commands`.

pub mod signature;
