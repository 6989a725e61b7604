//! Identifiers that become parts of Redis keys: they are bounded and restricted to characters
//! that cannot break the key layout (no `:`, `{`, `}` or whitespace in ids; receipts are the last
//! key segment, so they may hold any printable ASCII).

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::ParseError;

/// What [`slug`] accepts, as the API document states it.
pub const SLUG_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

fn slug(kind: &str, input: &str, max: usize) -> Result<String, ParseError> {
    let value = input;
    if value.is_empty() {
        return Err(ParseError::new(format!("{kind} is empty")));
    }
    if value.len() > max {
        return Err(ParseError::new(format!(
            "{kind} is longer than {max} characters"
        )));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ParseError::new(format!(
            "{kind} {value:?} may contain only letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(value.to_owned())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(input: &str) -> Result<Self, ParseError> {
                slug($kind, input, 64).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

slug_id!(
    /// A loyalty program (`bloom`): the unit of configuration and of Redis key hash tags.
    ProgramId,
    "program id"
);
slug_id!(
    /// A store or till location (`store-12`).
    LocationId,
    "location"
);
slug_id!(
    /// A reward in a program's catalogue (`r25`).
    RewardId,
    "reward id"
);

/// What [`client_key`] accepts, as the API document states it.
pub const CLIENT_KEY_PATTERN: &str = "^[!-~]([ -~]{0,126}[!-~])?$";

/// A client's idempotency key: 1-128 printable ASCII characters, not starting or ending with a
/// space (taken exactly as sent: `R1` and ` R1` would be two keys, so neither is accepted).
fn client_key(kind: &str, input: &str) -> Result<String, ParseError> {
    let value = input;
    if value.is_empty() {
        return Err(ParseError::new(format!("{kind} is empty")));
    }
    if value.len() > Receipt::MAX_LEN {
        return Err(ParseError::new(format!(
            "{kind} is longer than {} characters",
            Receipt::MAX_LEN
        )));
    }
    if !value.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return Err(ParseError::new(format!(
            "{kind} may contain only printable ASCII characters"
        )));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(ParseError::new(format!(
            "{kind} must not start or end with a space"
        )));
    }
    Ok(value.to_owned())
}

/// A POS receipt number: the idempotency key of a purchase within (program, location).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receipt(String);

impl Receipt {
    pub const MAX_LEN: usize = 128;

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        client_key("receipt", input).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An `Idempotency-Key` header: a client's key that makes a retried write answer the first
/// result (the same rules as a receipt).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        client_key("Idempotency-Key", input).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The POS's id of one refund of a receipt: its idempotency key among the receipt's refunds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefundId(String);

impl RefundId {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        client_key("refund_id", input).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_reject_key_breaking_characters() {
        assert!(LocationId::parse("store-12").is_ok());
        for bad in ["", "a:b", "{x}", "a b", "ü", &"x".repeat(65)] {
            assert!(LocationId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn receipts_are_bounded_and_printable() {
        assert_eq!(Receipt::parse("R-1001/7 b").unwrap().as_str(), "R-1001/7 b");
        assert!(Receipt::parse(" R-1001").is_err());
        assert!(Receipt::parse("").is_err());
        assert!(Receipt::parse("a\nb").is_err());
        assert!(Receipt::parse(&"9".repeat(129)).is_err());
    }

    proptest! {
        #[test]
        fn parsed_receipts_are_never_empty_or_control(input in "\\PC{0,200}") {
            if let Ok(receipt) = Receipt::parse(&input) {
                prop_assert!(!receipt.as_str().is_empty());
                prop_assert!(receipt.as_str().len() <= Receipt::MAX_LEN);
                prop_assert!(receipt.as_str().chars().all(|c| !c.is_control()));
            }
        }

        #[test]
        fn the_documented_patterns_accept_exactly_what_parsing_accepts(
            input in "[ -~\\n\\t\\u{e9}]{0,140}"
        ) {
            let slug = regex::Regex::new(SLUG_PATTERN).unwrap();
            prop_assert_eq!(slug.is_match(&input), LocationId::parse(&input).is_ok());
            let key = regex::Regex::new(CLIENT_KEY_PATTERN).unwrap();
            prop_assert_eq!(key.is_match(&input), Receipt::parse(&input).is_ok());
        }

        #[test]
        fn parsed_ids_never_contain_key_separators(input in "\\PC{0,80}") {
            if let Ok(id) = LocationId::parse(&input) {
                let breaks_key = id.as_str().contains([':', '{', '}', ' ']);
                prop_assert!(!breaks_key, "{:?}", id);
            }
        }
    }
}
