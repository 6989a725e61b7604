//! Phone numbers: the customer's loyalty card.
//!
//! libphonenumber's `parse` accepts things that are not numbers (`123-456-7890` parses under US),
//! so a [`PhoneNumber`] exists only after `parse` *and* `is_valid`. Storage, keys and responses
//! always use E.164. Logs use [`MaskedPhone`], never the number itself.

use std::fmt;
use std::str::FromStr;

use super::ParseError;

/// Longest input we try to parse; anything longer is not a phone number typed by a person.
const MAX_INPUT_LEN: usize = 64;

/// The region used for numbers written without a `+country` prefix (ISO 3166 alpha-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

impl Region {
    pub fn parse(code: &str) -> Result<Self, ParseError> {
        phonenumber::country::Id::from_str(&code.to_ascii_uppercase())
            .map(Self)
            .map_err(|_| ParseError::new(format!("{code:?} is not an ISO 3166 region code")))
    }

    pub fn id(self) -> phonenumber::country::Id {
        self.0
    }
}

/// A valid phone number in E.164 form (`+14155552671`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses any common written form: national (`(415) 555-2671`), international (`+1 415...`,
    /// `011 44 ...` from the US), full-width digits, a `tel:` prefix, an extension (dropped: SMS
    /// cannot dial one).
    pub fn parse(input: &str, region: Region) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ParseError::new("phone number is empty"));
        }
        if trimmed.chars().count() > MAX_INPUT_LEN {
            return Err(ParseError::new("phone number is too long"));
        }
        let without_scheme = trimmed
            .strip_prefix("tel:")
            .or_else(|| trimmed.strip_prefix("TEL:"))
            .unwrap_or(trimmed);
        let ascii = ascii_digits(without_scheme);
        let parsed = phonenumber::parse(Some(region.id()), &ascii)
            .map_err(|_| ParseError::new(format!("{trimmed:?} is not a phone number")))?;
        if !parsed.is_valid() {
            return Err(ParseError::new(format!(
                "{trimmed:?} is not a valid phone number"
            )));
        }
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        Ok(Self(e164))
    }

    /// Parses a number that must already carry its country code (provider webhooks, config).
    pub fn parse_e164(input: &str) -> Result<Self, ParseError> {
        if !input.trim_start().starts_with('+') {
            return Err(ParseError::new(format!(
                "{input:?} must be in international format (+country code)"
            )));
        }
        Self::parse(input, Region(phonenumber::country::Id::US))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The North American area code, for numbers in the NANP (+1).
    pub fn nanp_area_code(&self) -> Option<&str> {
        self.0.strip_prefix("+1").map(|rest| &rest[..3])
    }

    pub fn masked(&self) -> MaskedPhone<'_> {
        MaskedPhone(self)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug output masks the number too, so a stray `{:?}` cannot leak it into a log.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// Folds full-width forms (NFKC: `４` → `4`, `＋` → `+`) and Arabic-Indic digits to ASCII, as
/// libphonenumber does and the Rust port does not.
fn ascii_digits(input: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    input
        .nfkc()
        .map(|c| match c {
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            other => other,
        })
        .collect()
}

/// A phone number for logs: country prefix and last two digits (`+1********71`).
pub struct MaskedPhone<'a>(&'a PhoneNumber);

impl fmt::Display for MaskedPhone<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = &self.0 .0;
        let len = digits.len();
        if len <= 5 {
            return f.write_str("***");
        }
        write!(
            f,
            "{}{}{}",
            &digits[..2],
            "*".repeat(len - 4),
            &digits[len - 2..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn us() -> Region {
        Region::parse("US").unwrap()
    }

    #[test]
    fn common_written_forms_normalise_to_e164() {
        for input in [
            "(415) 555-2671",
            "415-555-2671",
            "+1 415 555 2671",
            "1-415-555-2671",
            "tel:+1-415-555-2671",
            "415.555.2671 ext. 12",
            "\u{0664}\u{0661}\u{0665}\u{0665}\u{0665}\u{0665}\u{0662}\u{0666}\u{0667}\u{0661}",
            "\u{FF14}\u{FF11}\u{FF15}\u{FF15}\u{FF15}\u{FF15}\u{FF12}\u{FF16}\u{FF17}\u{FF11}",
        ] {
            let phone = PhoneNumber::parse(input, us()).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(phone.as_str(), "+14155552671", "{input}");
        }
    }

    #[test]
    fn international_dialling_prefix_is_understood() {
        let phone = PhoneNumber::parse("011 44 20 7946 0958", us()).unwrap();
        assert_eq!(phone.as_str(), "+442079460958");
    }

    #[test]
    fn a_number_that_parses_but_is_not_valid_is_rejected() {
        assert!(PhoneNumber::parse("123-456-7890", us()).is_err());
        assert!(PhoneNumber::parse("", us()).is_err());
        assert!(PhoneNumber::parse("hello", us()).is_err());
    }

    #[test]
    fn masking_keeps_only_the_country_prefix_and_last_two_digits() {
        let phone = PhoneNumber::parse("+14155552671", us()).unwrap();
        assert_eq!(phone.masked().to_string(), "+1********71");
        assert!(!format!("{phone:?}").contains("5552671"));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_valid_numbers_are_e164(input in "\\PC{0,80}") {
            if let Ok(phone) = PhoneNumber::parse(&input, us()) {
                prop_assert!(phone.as_str().starts_with('+'));
                prop_assert!(phone.as_str()[1..].chars().all(|c| c.is_ascii_digit()));
            }
        }

        #[test]
        fn e164_output_parses_back_to_itself(national in 2_000_000_000u64..9_999_999_999u64) {
            if let Ok(phone) = PhoneNumber::parse(&national.to_string(), us()) {
                let again = PhoneNumber::parse(phone.as_str(), us()).unwrap();
                prop_assert_eq!(again, phone);
            }
        }
    }
}
