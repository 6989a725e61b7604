//! Phone numbers: the customer's loyalty card.
//!
//! A number is read exactly as Google's libphonenumber reads it ([`libphonenumber`] follows its
//! `parse` and `isValidNumber` step by step): a number written with `+` or an international
//! dialling prefix by its own country code, a national number by the program's region. A
//! [`PhoneNumber`] exists only after `parse` *and* `isValidNumber` (`123-456-7890` parses under
//! US but is no number). Storage, keys and responses always use E.164. Logs use [`MaskedPhone`],
//! never the number itself.
//!
//! Stricter than libphonenumber on purpose: libphonenumber digs a number out of any text around
//! it, which is right for a search box and wrong for an API field. A field with control or
//! formatting characters (bidirectional overrides), path syntax (`..`, `//`, `%`, `\`), letters
//! outside an extension label, or text before or after the number is refused, never cleaned
//! into a number.

mod libphonenumber;

use std::fmt;

use self::libphonenumber::Failure;
use super::ParseError;

/// Longest input we try to parse; anything longer is not a phone number typed by a person.
pub const MAX_INPUT_LEN: usize = 64;

/// The region used for numbers written without a `+country` prefix (ISO 3166 alpha-2 code that
/// libphonenumber has metadata for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(&'static str);

impl Region {
    pub fn parse(code: &str) -> Result<Self, ParseError> {
        let upper = code.trim().to_ascii_uppercase();
        libphonenumber::known_region(&upper)
            .map(Self)
            .ok_or_else(|| {
                ParseError::new(format!(
                    "{code:?} is not an ISO 3166 region code with a telephone numbering plan"
                ))
            })
    }

    /// The ISO 3166 alpha-2 code (`US`).
    pub fn code(self) -> &'static str {
        self.0
    }
}

/// A valid phone number in E.164 form (`+14155552671`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Reads any common written form: national (`(415) 555-2671`) by `region`, international
    /// (`+44 20...`, `011 44 20...` from the US) by its own country code, digits of any script
    /// (full-width, Arabic-Indic), a `tel:` URI, an extension (dropped: SMS cannot dial one).
    pub fn parse(input: &str, region: Region) -> Result<Self, ParseError> {
        Self::read(input, Some(region))
    }

    /// Reads a number that must carry its country code (provider webhooks, configuration):
    /// no region is assumed.
    pub fn parse_e164(input: &str) -> Result<Self, ParseError> {
        if !input.trim_start().starts_with(['+', '\u{FF0B}']) {
            return Err(ParseError::new(format!(
                "{input:?} must be in international format (+country code)"
            )));
        }
        Self::read(input, None)
    }

    fn read(input: &str, region: Option<Region>) -> Result<Self, ParseError> {
        if input.chars().count() > MAX_INPUT_LEN {
            return Err(ParseError::new(format!(
                "phone number is longer than {MAX_INPUT_LEN} characters"
            )));
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ParseError::new("phone number is empty"));
        }
        let not_a_number = || {
            ParseError::new(format!(
                "{trimmed:?} contains characters that are not part of a phone number"
            ))
        };
        if let Some(c) = trimmed.chars().find(|c| is_control_or_format(*c)) {
            return Err(ParseError::new(format!(
                "{trimmed:?} contains the control or formatting character U+{:04X}",
                c as u32
            )));
        }
        if ["..", "//", "\\", "%"].iter().any(|p| trimmed.contains(p)) {
            return Err(not_a_number());
        }
        let number = tel_uri_number(trimmed).ok_or_else(not_a_number)?;
        let kept = libphonenumber::extract_possible_number(&number);
        let before = &number[..kept.start];
        let after = &number[kept.end..];
        if kept.is_empty()
            || !before
                .chars()
                .all(|c| c.is_whitespace() || "([\u{FF08}\u{FF3B}".contains(c))
            || !after
                .chars()
                .all(|c| c.is_whitespace() || ")].\u{FF09}\u{FF3D}".contains(c))
        {
            return Err(not_a_number());
        }
        let without_extension = libphonenumber::strip_extension(&number[kept]);
        if without_extension.chars().any(char::is_alphabetic) {
            return Err(not_a_number());
        }
        libphonenumber::parse_valid(without_extension, region.map(Region::code))
            .map(Self)
            .map_err(|failure| {
                ParseError::new(match failure {
                    Failure::NotANumber => format!("{trimmed:?} is not a phone number"),
                    Failure::InvalidCountryCode => format!(
                        "{trimmed:?} has no country code that exists (write it as +<country code> <number>)"
                    ),
                    Failure::TooShort => format!("{trimmed:?} is too short to be a phone number"),
                    Failure::TooLong => format!("{trimmed:?} is too long to be a phone number"),
                    Failure::NotValid => format!("{trimmed:?} is not a valid phone number"),
                })
            })
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

/// Characters that no one types into a phone number and that can disguise what a field says:
/// controls (Cc) and formatting characters (Cf: bidirectional overrides and isolates, zero-width
/// spaces and joiners, soft hyphens), and line or paragraph separators.
fn is_control_or_format(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
            | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}')
}

/// The number part of an RFC 3966 `tel:` URI (`tel:+1-415-555-2671;ext=12`), as libphonenumber's
/// `buildNationalNumberForParsing` takes it: a `phone-context` that is a global number is put in
/// front, an ISDN subaddress is dropped. Text that is no `tel:` URI is returned as it is.
/// `None` for a `phone-context` that is not a global number (a domain name).
fn tel_uri_number(text: &str) -> Option<String> {
    const SCHEME: &str = "tel:";
    let rest = match text.get(..SCHEME.len()) {
        Some(scheme) if scheme.eq_ignore_ascii_case(SCHEME) => &text[SCHEME.len()..],
        _ => text,
    };
    let mut number = match rest.find(";phone-context=") {
        Some(at) => {
            let context = rest[at + ";phone-context=".len()..]
                .split(';')
                .next()
                .unwrap_or("");
            if !context.starts_with('+') {
                return None;
            }
            format!("{context}{}", &rest[..at])
        }
        None if rest.len() == text.len() => text.to_owned(),
        None => rest.to_owned(),
    };
    if let Some(at) = number.find(";isub=") {
        number.truncate(at);
    }
    Some(number)
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
    fn provider_numbers_are_read_by_their_own_country_code() {
        for (input, e164) in [
            ("+5511987650001", "+5511987650001"),
            ("+4915112345678", "+4915112345678"),
            ("+201012345678", "+201012345678"),
            ("+14155552671", "+14155552671"),
        ] {
            assert_eq!(PhoneNumber::parse_e164(input).unwrap().as_str(), e164);
        }
        assert!(PhoneNumber::parse_e164("4155552671").is_err());
        assert!(PhoneNumber::parse_e164("+999 1234 5678").is_err());
    }

    #[test]
    fn text_that_only_contains_a_number_is_refused_not_cleaned() {
        for input in [
            "+1 415 555 2671\u{0007}",
            "\u{202E}+14155552671\u{202C}",
            "\u{2066}4155552671\u{2069}",
            "415\u{200B}555\u{200B}2671",
            "415\n555 2671",
            "../+14155552671",
            "+14155552671/../admin",
            "%2B14155552671",
            "v1/members/+14155552671",
            "call +1 415 555 2671 please",
            "1-800-FLOWERS",
            "tel:4155552671;phone-context=example.com",
        ] {
            let error = PhoneNumber::parse(input, us()).expect_err(input);
            assert!(!error.to_string().is_empty());
        }
        // Punctuation people really use around a number is fine.
        for input in [
            "(415) 555-2671",
            " +1 (415) 555-2671 ",
            "415/555-2671",
            "+1 415 555 2671.",
        ] {
            assert_eq!(
                PhoneNumber::parse(input, us()).unwrap().as_str(),
                "+14155552671"
            );
        }
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

#[cfg(test)]
mod golden {
    //! Agreement with Google's libphonenumber on every vector that `generate.py` wrote.
    use super::*;

    const VECTORS: &str = include_str!("../../../tests/fixtures/phonenumbers/vectors.tsv");

    #[test]
    fn parsing_agrees_with_libphonenumber_on_every_golden_vector() {
        let mut total = 0;
        let mut disagreements = Vec::new();
        for line in VECTORS.lines().filter(|l| !l.starts_with('#')) {
            let mut fields = line.split('\t');
            let (Some(region), Some(input), Some(expected)) =
                (fields.next(), fields.next(), fields.next())
            else {
                panic!("malformed vector line {line:?}");
            };
            total += 1;
            let region = Region::parse(region).unwrap();
            let ours = PhoneNumber::parse(input, region);
            let agrees = match (&ours, expected.starts_with('+')) {
                (Ok(phone), true) => phone.as_str() == expected,
                (Err(_), false) => true,
                _ => false,
            };
            if !agrees {
                disagreements.push(format!(
                    "{:?} from {:?}: libphonenumber {expected}, ours {:?}",
                    input,
                    region.code(),
                    ours.map(|p| p.0)
                ));
            }
        }
        assert!(total > 10_000, "only {total} vectors");
        assert!(
            disagreements.is_empty(),
            "{} of {total} vectors disagree:\n{}",
            disagreements.len(),
            disagreements.join("\n")
        );
    }
}
