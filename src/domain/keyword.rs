//! Keyword normalisation: the one way an inbound text, a shipped keyword table and a program's
//! `join_keywords` are made comparable. Accents go (`Únete` → `UNETE`), case goes, apostrophes
//! join words (`don't` → `DONT`), any other punctuation becomes a single space.

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

pub fn normalise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
    {
        if c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else if matches!(c, '\'' | '\u{2019}' | '`') {
            // Apostrophes join words.
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// A list of keywords, written naturally (`"PRÊMIOS"`) and normalised once, on first use.
pub struct Words {
    list: &'static [&'static str],
    normalised: OnceLock<Vec<String>>,
}

impl Words {
    pub const fn new(list: &'static [&'static str]) -> Self {
        Self {
            list,
            normalised: OnceLock::new(),
        }
    }

    fn normalised(&self) -> &[String] {
        self.normalised
            .get_or_init(|| self.list.iter().map(|w| normalise(w)).collect())
    }

    /// `text` (normalised) is one of the keywords.
    pub fn matches(&self, text: &str) -> bool {
        self.normalised().iter().any(|w| w == text)
    }

    /// One of the keywords appears in `text` (normalised) as whole words.
    pub fn appear_in(&self, text: &str) -> bool {
        !self
            .positions_in(&text.split(' ').collect::<Vec<_>>())
            .is_empty()
    }

    /// Where a keyword (of one or more words) starts in `words` (a normalised text, split).
    pub fn positions_in(&self, words: &[&str]) -> Vec<usize> {
        let mut starts = Vec::new();
        for phrase in self.normalised() {
            let phrase: Vec<&str> = phrase.split(' ').collect();
            if phrase.len() > words.len() {
                continue;
            }
            for start in 0..=words.len() - phrase.len() {
                if words[start..start + phrase.len()] == phrase[..] {
                    starts.push(start);
                }
            }
        }
        starts
    }
}

/// The clauses of a text, each normalised: split where sentence punctuation separates them, so
/// that a word in one clause ("I don't mind,") says nothing about the next ("stop texting me").
pub fn clauses(raw: &str) -> impl Iterator<Item = String> + '_ {
    raw.split(|c: char| {
        matches!(
            c,
            ',' | '.'
                | ';'
                | ':'
                | '!'
                | '?'
                | '\u{A1}'
                | '\u{BF}'
                | '\n'
                | '\u{060C}'
                | '\u{061B}'
                | '\u{061F}'
        )
    })
    .map(normalise)
    .filter(|clause| !clause.is_empty())
}

/// Keywords that each carry a value (the locale they belong to, the language they name).
pub struct Tagged<T: 'static> {
    table: &'static [(&'static str, T)],
    normalised: OnceLock<Vec<(String, T)>>,
}

impl<T: Copy + Send + Sync + 'static> Tagged<T> {
    pub const fn new(table: &'static [(&'static str, T)]) -> Self {
        Self {
            table,
            normalised: OnceLock::new(),
        }
    }

    /// The value of the keyword `text` (normalised) is, if it is one.
    pub fn get(&self, text: &str) -> Option<T> {
        self.normalised
            .get_or_init(|| self.table.iter().map(|(w, v)| (normalise(w), *v)).collect())
            .iter()
            .find(|(w, _)| w == text)
            .map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_drops_case_accents_and_punctuation() {
        assert_eq!(normalise("  ¡Únete!! "), "UNETE");
        assert_eq!(normalise("don't  text...me"), "DONT TEXT ME");
        assert_eq!(normalise("Stop."), "STOP");
        assert_eq!(normalise("إلغاء"), normalise("الغاء"));
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn clauses_split_at_sentence_punctuation() {
        let split: Vec<String> = clauses("I don't mind, stop texting me!").collect();
        assert_eq!(split, ["I DONT MIND", "STOP TEXTING ME"]);
        assert_eq!(clauses("...").count(), 0);
    }

    #[test]
    fn tables_match_whole_texts_words_and_tags() {
        static WORDS: Words = Words::new(&["PRÊMIOS", "OPT OUT"]);
        static TAGGED: Tagged<&str> = Tagged::new(&[("ÚNETE", "es")]);
        assert!(WORDS.matches("PREMIOS"));
        assert!(!WORDS.matches("PREMIOS YA"));
        assert!(WORDS.appear_in("PLEASE OPT OUT NOW"));
        assert!(!WORDS.appear_in("OPT OUTSIDE"));
        assert_eq!(
            WORDS.positions_in(&["NO", "OPT", "OUT", "OPT", "OUT"]),
            [1, 3]
        );
        assert_eq!(TAGGED.get("UNETE"), Some("es"));
        assert_eq!(TAGGED.get("JOIN"), None);
    }
}
