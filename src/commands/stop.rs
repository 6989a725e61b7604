//! STOP and every other way of saying it (Twilio's opt-out keywords, AWS's, the shipped
//! locales', and plain-language requests the FCC says must count as revocation).

use super::{Command, Parsed, Text};
use crate::domain::keyword::{self, Words};

/// The whole text is one of these.
static KEYWORDS: Words = Words::new(&[
    "STOP",
    "STOPALL",
    "STOP ALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT OUT",
    "ARRET",
    "REMOVE",
    "TD", // en + carrier standard
    "ALTO",
    "PARAR",
    "BAJA",
    "CANCELAR",
    "DETENER", // es
    "SAIR",
    "PARE", // pt
    "توقف",
    "إلغاء",
    "الغاء", // ar
]);

/// A text starting with one of these words is an opt-out ("STOP please", "Unsubscribe me").
static LEADING_WORDS: Words =
    Words::new(&["STOP", "STOPALL", "UNSUBSCRIBE", "OPTOUT", "ALTO", "توقف"]);

/// Plain-language requests: a reasonable person would read these as "stop texting me".
static PHRASES: Words = Words::new(&[
    "STOP TEXTING",
    "STOP MESSAGING",
    "STOP SENDING",
    "STOP CONTACTING",
    "STOP THE TEXTS",
    "REMOVE ME",
    "TAKE ME OFF",
    "WRONG NUMBER",
    "DONT TEXT",
    "DO NOT TEXT",
    "DONT MESSAGE",
    "DO NOT MESSAGE",
    "NO MORE TEXTS",
    "NO MORE MESSAGES",
    "LEAVE ME ALONE",
    "OPT ME OUT",
    "OPT OUT",
    "UNSUBSCRIBE",
    "DELETE MY NUMBER",
    "LOSE MY NUMBER",
    "NUMERO EQUIVOCADO",
    "NO ME ENVIEN",
    "NO ME MANDEN",
    "DEJEN DE",
    "DARME DE BAJA",
    "ELIMINAR MI NUMERO", // es
    "NUMERO ERRADO",
    "PARE DE",
    "NAO QUERO RECEBER",
    "ME REMOVA",
    "REMOVA MEU", // pt
    "رقم خطأ",
    "رقم خاطئ",
    "توقفوا", // ar
]);

/// Words that turn a request around when they stand right before it ("don't stop sending me
/// deals", "no dejen de enviarme", "não pare de mandar", "لا توقفوا").
static NEGATIONS: Words = Words::new(&["DONT", "NOT", "NEVER", "NO", "NAO", "NUNCA", "لا"]);

/// Words that may stand between a negation and the request it negates ("don't *ever* stop",
/// "I don't *want you to* unsubscribe me", "no *quiero que* dejen de").
static BETWEEN: Words = Words::new(&[
    "EVER", "EVEN", "PLEASE", "PLS", "WANT", "YOU", "U", "TO", "GUYS", "QUIERO", "QUE", "ME",
    "QUERO", "POR", "FAVOR",
]);

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    let requested = text.is(&KEYWORDS)
        || text.starts_with_word(&LEADING_WORDS)
        || keyword::clauses(text.raw()).any(|clause| asks_to_opt_out(&clause));
    requested.then(|| Parsed::new(Command::Stop))
}

/// A plain-language request somewhere in `clause` that is not negated.
fn asks_to_opt_out(clause: &str) -> bool {
    let words: Vec<&str> = clause.split(' ').collect();
    PHRASES
        .positions_in(&words)
        .into_iter()
        .any(|start| !negated(&words[..start]))
}

/// The words before a request end in a negation, once the words that may stand between are
/// skipped.
fn negated(before: &[&str]) -> bool {
    before
        .iter()
        .rev()
        .find(|word| !BETWEEN.matches(word))
        .is_some_and(|word| NEGATIONS.matches(word))
}
