//! BDAY MM-DD (CUMPLE, NIVER, ميلاد): the member's birthday, for the birthday automation.
//! "BDAY 03-15", "bday 3/15" and "BDAY 0315" are all the fifteenth of March.

use super::{Command, Parsed, Text};
use crate::domain::keyword::Words;

static KEYWORDS: Words = Words::new(&[
    "BDAY",
    "BIRTHDAY",
    "CUMPLE",
    "CUMPLEANOS",
    "NIVER",
    "ANIVERSARIO",
    "ميلاد",
]);

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    if !text.starts_with_word(&KEYWORDS) {
        return None;
    }
    month_day(text.raw_rest())
        .map(|(m, d)| Parsed::new(Command::Birthday(format!("{m:02}-{d:02}"))))
}

/// A month and day as people type them; February 29 is a birthday too.
fn month_day(raw: &str) -> Option<(u32, u32)> {
    let groups: Vec<&str> = raw
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let (m, d) = match groups.as_slice() {
        [both] if both.len() == 4 => (both[..2].parse().ok()?, both[2..].parse().ok()?),
        [m, d] if m.len() <= 2 && d.len() <= 2 => (m.parse().ok()?, d.parse().ok()?),
        _ => return None,
    };
    let days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    ((1..=12).contains(&m) && d >= 1 && d <= days[(m - 1) as usize]).then_some((m, d))
}

#[cfg(test)]
mod tests {
    use super::month_day;

    #[test]
    fn birthdays_as_people_type_them() {
        assert_eq!(month_day("03-15"), Some((3, 15)));
        assert_eq!(month_day("3/15"), Some((3, 15)));
        assert_eq!(month_day("0315"), Some((3, 15)));
        assert_eq!(month_day("02-29"), Some((2, 29)));
        for bad in [
            "13-01",
            "02-30",
            "00-10",
            "4-31",
            "",
            "March 3",
            "2024-03-15",
        ] {
            assert_eq!(month_day(bad), None, "{bad}");
        }
    }
}
