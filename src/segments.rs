//! SMS encoding and segment counting (3GPP TS 23.038), and "smart encoding".
//!
//! Carriers bill and throttle by segment, not message. A text is GSM-7 when every character is
//! in the GSM 03.38 basic table or its extension table (extension characters cost two septets);
//! any other character makes the whole text UCS-2, counted in UTF-16 code units. A single
//! message holds 160 septets or 70 units; concatenated segments hold 153 or 67, and an escape
//! pair or a surrogate pair is never split across two segments.

use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub enum Encoding {
    #[serde(rename = "GSM-7")]
    #[default]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentCount {
    pub encoding: Encoding,
    pub segments: u32,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: u32,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets a character takes in GSM-7, or `None` when it is not in the GSM-7 alphabet.
fn gsm7_cost(c: char) -> Option<u32> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Packs per-character costs into segments of `per_segment`, never splitting one character.
fn pack(costs: impl Iterator<Item = u32>, single: u32, per_segment: u32) -> (u32, u32) {
    let costs: Vec<u32> = costs.collect();
    let total: u32 = costs.iter().sum();
    if total <= single {
        return (total, 1);
    }
    let mut segments = 1;
    let mut used = 0;
    for cost in costs {
        if used + cost > per_segment {
            segments += 1;
            used = 0;
        }
        used += cost;
    }
    (total, segments)
}

pub fn count(text: &str) -> SegmentCount {
    let gsm: Option<Vec<u32>> = text.chars().map(gsm7_cost).collect();
    match gsm {
        Some(costs) => {
            let (units, segments) = pack(costs.into_iter(), 160, 153);
            SegmentCount {
                encoding: Encoding::Gsm7,
                segments,
                units,
            }
        }
        None => {
            let (units, segments) = pack(text.chars().map(|c| c.len_utf16() as u32), 70, 67);
            SegmentCount {
                encoding: Encoding::Ucs2,
                segments,
                units,
            }
        }
    }
}

/// Replaces look-alike characters that would force UCS-2 with their GSM-7 equivalents.
pub fn smart_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{00B4}'
            | '\u{02BC}' => out.push('\''),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
            | '\u{00BB}' => out.push('"'),
            '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
            | '\u{2212}' => out.push('-'),
            '\u{00A0}' | '\u{2002}' | '\u{2003}' | '\u{2009}' | '\u{200A}' | '\u{202F}'
            | '\u{205F}' => out.push(' '),
            '\u{2026}' => out.push_str("..."),
            '\u{2022}' => out.push('-'),
            '\u{200B}' | '\u{FEFF}' => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Any character of the GSM-7 alphabet, basic or extension.
    fn gsm_char() -> impl Strategy<Value = char> {
        let alphabet: Vec<char> = GSM7_BASIC.chars().chain(GSM7_EXTENSION.chars()).collect();
        prop::sample::select(alphabet)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// A GSM-7 text: septets are one per basic character and two per extension one; it is
        /// one message up to 160 septets, else between ceil(n / 153) segments and one more per
        /// segment than that, for an escape pair pushed to the next segment.
        #[test]
        fn a_gsm_text_counts_septets_and_fills_segments(chars in prop::collection::vec(gsm_char(), 0..700)) {
            let text: String = chars.iter().collect();
            let counted = count(&text);
            let septets: u32 = chars.iter().map(|c| if GSM7_EXTENSION.contains(*c) { 2 } else { 1 }).sum();
            prop_assert_eq!(counted.encoding, Encoding::Gsm7);
            prop_assert_eq!(counted.units, septets);
            if septets <= 160 {
                prop_assert_eq!(counted.segments, 1);
            } else {
                prop_assert!(counted.segments >= septets.div_ceil(153));
                prop_assert!(counted.segments <= septets.div_ceil(152));
            }
        }

        /// One character outside GSM-7 makes the whole text UCS-2, counted in UTF-16 units: 70
        /// in one message, else 67 a segment, a surrogate pair never split.
        #[test]
        fn one_character_outside_gsm_makes_the_text_ucs2(
            before in "\\PC{0,200}",
            outside in prop::sample::select(vec!['✓', '😀', '中', 'ł', '“']),
            after in "\\PC{0,200}",
        ) {
            let text = format!("{before}{outside}{after}");
            let counted = count(&text);
            let units = text.encode_utf16().count() as u32;
            prop_assert_eq!(counted.encoding, Encoding::Ucs2);
            prop_assert_eq!(counted.units, units);
            if units <= 70 {
                prop_assert_eq!(counted.segments, 1);
            } else {
                prop_assert!(counted.segments >= units.div_ceil(67));
                prop_assert!(counted.segments <= units.div_ceil(66));
            }
        }

        /// A longer text never takes fewer segments.
        #[test]
        fn appending_never_takes_fewer_segments(a in "\\PC{0,300}", b in "\\PC{0,300}") {
            let joined = format!("{a}{b}");
            if count(&a).encoding == count(&joined).encoding {
                prop_assert!(count(&joined).segments >= count(&a).segments);
            }
        }

        /// Smart encoding turns GSM text plus the look-alikes it knows into GSM-7.
        #[test]
        fn smart_encoding_leaves_gsm_text_with_look_alikes_in_gsm(
            chars in prop::collection::vec(prop_oneof![
                gsm_char(),
                prop::sample::select(vec!['\u{2019}', '\u{201C}', '\u{2014}', '\u{00A0}', '\u{2026}', '\u{2022}', '\u{200B}']),
            ], 0..300)
        ) {
            let text: String = chars.iter().collect();
            prop_assert_eq!(count(&smart_encode(&text)).encoding, Encoding::Gsm7);
        }
    }

    fn digits(n: usize) -> String {
        "1".repeat(n)
    }

    #[test]
    fn gsm7_vectors_from_the_spec_examples() {
        assert_eq!(count(&digits(160)).segments, 1);
        assert_eq!(count(&digits(161)).segments, 2);
        assert_eq!(count(&digits(306)).segments, 2);
        assert_eq!(count(&digits(307)).segments, 3);
        assert_eq!(count(&digits(160)).encoding, Encoding::Gsm7);
        assert_eq!(count("").segments, 1);
    }

    #[test]
    fn extension_characters_cost_two_septets_and_are_never_split() {
        let one = count(&format!("€{}", digits(158)));
        assert_eq!(
            (one.encoding, one.units, one.segments),
            (Encoding::Gsm7, 160, 1)
        );
        assert_eq!(count(&format!("€{}", digits(159))).segments, 2);
        // 152 septets then an escape pair: the pair moves whole to segment two.
        let text = format!("{}€{}", digits(152), digits(10));
        let c = count(&text);
        assert_eq!((c.units, c.segments), (164, 2));
        // 152 + 2 would fit 154 > 153, so the pair starts segment two; 153 + 153 + ...
        let text = format!("{}{}", digits(152), "€".repeat(77));
        assert_eq!(count(&text).segments, 3);
    }

    #[test]
    fn ucs2_counts_utf16_units_and_keeps_surrogate_pairs_whole() {
        let c = count(&format!("😜{}", "a".repeat(68)));
        assert_eq!((c.encoding, c.units, c.segments), (Encoding::Ucs2, 70, 1));
        assert_eq!(count(&format!("😜{}", "a".repeat(69))).segments, 2);
        // 66 units, an emoji, 66 units: 134 units would fill exactly two segments of 67, but
        // the emoji cannot straddle them, so it starts segment two and a third is needed.
        let c = count(&format!("ж{}😜{}", "a".repeat(65), "a".repeat(66)));
        assert_eq!((c.encoding, c.units, c.segments), (Encoding::Ucs2, 134, 3));
        // Flags and ZWJ sequences count every code unit.
        assert_eq!(count("🇺🇸").units, 4);
        assert_eq!(count("👩‍👩‍👧").units, 8);
    }

    /// The vectors of Twilio's message-segment-calculator (`tests/index.test.js`,
    /// `tests/segments.test.js`): bodies are "1234567890..." runs, with a first character swapped.
    #[test]
    fn matches_the_twilio_segment_calculator_vectors() {
        let run =
            |n: usize| -> String { (1..=n).map(|i| char::from(b'0' + (i % 10) as u8)).collect() };
        let with_first = |first: &str, n: usize| format!("{first}{}", &run(n)[1..]);
        // (body, encoding, segments, message size in bits)
        let cases = [
            (with_first("{", 159), Encoding::Gsm7, 1, 1120),
            (with_first("{", 160), Encoding::Gsm7, 2, 1127),
            (with_first("😜", 69), Encoding::Ucs2, 1, 1120),
            (with_first("😜", 70), Encoding::Ucs2, 2, 1136),
            (run(307), Encoding::Gsm7, 3, 307 * 7),
            (with_first("😜", 134), Encoding::Ucs2, 3, 135 * 16),
        ];
        for (body, encoding, segments, bits) in cases {
            let c = count(&body);
            let unit_bits = if encoding == Encoding::Gsm7 { 7 } else { 16 };
            assert_eq!(
                (c.encoding, c.segments, c.units * unit_bits),
                (encoding, segments, bits),
                "{body}"
            );
        }
    }

    #[test]
    fn one_non_gsm_character_makes_the_whole_text_ucs2() {
        assert_eq!(count("Hello “friend”").encoding, Encoding::Ucs2);
        assert_eq!(count("Hello Ω é ñ ü").encoding, Encoding::Gsm7);
        assert_eq!(count("مرحبا").encoding, Encoding::Ucs2);
    }

    #[test]
    fn smart_encoding_turns_look_alikes_into_gsm7() {
        let smart = smart_encode("“Hi” – it’s\u{00A0}here…");
        assert_eq!(smart, "\"Hi\" - it's here...");
        assert_eq!(count(&smart).encoding, Encoding::Gsm7);
    }
}
