//! Single-use reward codes, read aloud at a till and typed by a cashier.
//!
//! The alphabet drops the characters people confuse (0/O, 1/I/L) and the code is eight symbols
//! from a 31-symbol alphabet (~40 bits) drawn from `rand`'s thread-local CSPRNG (ChaCha, seeded
//! and periodically reseeded from the OS), so codes cannot be guessed at the rate a till can try
//! them, and no system call is made per symbol. Codes display as `XXXX-XXXX`; input is accepted in any case, with
//! or without the dash or spaces.

use std::fmt;

use rand::Rng;

use super::ParseError;

const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// What [`RewardCode::parse`] accepts, as the API document states it.
pub const CODE_PATTERN: &str = "^[ -]*([2-9A-HJKMNP-Za-hjkmnp-z][ -]*){8}$";
const LEN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RewardCode(String);

impl RewardCode {
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let code = (0..LEN)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        Self(code)
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let compact: String = input
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if compact.len() != LEN || !compact.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(ParseError::new(format!(
                "{input:?} is not a reward code (eight letters and digits, like 7KQM-X4TZ)"
            )));
        }
        Ok(Self(compact))
    }

    /// The display form (`7KQM-X4TZ`) of a code as stored; anything else is shown as it is.
    pub fn display(stored: &str) -> String {
        Self::parse(stored)
            .map(|c| c.to_string())
            .unwrap_or_else(|_| stored.to_owned())
    }

    /// The compact form used in storage (`7KQMX4TZ`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RewardCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", &self.0[..4], &self.0[4..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_codes_parse_back_from_their_display_form() {
        for _ in 0..100 {
            let code = RewardCode::generate();
            assert_eq!(RewardCode::parse(&code.to_string()).unwrap(), code);
            assert_eq!(
                RewardCode::parse(&code.to_string().to_lowercase()).unwrap(),
                code
            );
        }
    }

    #[test]
    fn ambiguous_characters_are_not_codes() {
        assert!(RewardCode::parse("0OIL-2345").is_err());
        assert!(RewardCode::parse("ABC").is_err());
    }

    proptest! {
        #[test]
        fn the_documented_pattern_accepts_exactly_what_parsing_accepts(
            input in "[0-9A-Za-z -]{0,14}"
        ) {
            let pattern = regex::Regex::new(CODE_PATTERN).unwrap();
            prop_assert_eq!(pattern.is_match(&input), RewardCode::parse(&input).is_ok());
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(input in "\\PC{0,40}") {
            if let Ok(code) = RewardCode::parse(&input) {
                prop_assert_eq!(code.as_str().len(), LEN);
            }
        }
    }
}
