//! STOP and every other way of saying it (Twilio's opt-out keywords, AWS's, the shipped
//! locales', and plain-language requests the FCC says must count as revocation).

use super::{sms_script, Command, Parsed, Text};
use crate::domain::keyword::Words;

pub(super) static SCRIPT: std::sync::LazyLock<redis::Script> =
    sms_script!("commands/scripts/stop.lua");

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

pub(super) fn parse(text: &Text) -> Option<Parsed> {
    let phrase = PHRASES.appear_in(text.normalised());
    (text.is(&KEYWORDS) || text.starts_with_word(&LEADING_WORDS) || phrase)
        .then(|| Parsed::new(Command::Stop))
}
