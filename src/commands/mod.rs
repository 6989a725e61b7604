//! The SMS keyword engine: one module per command, each with its keywords (in every shipped
//! locale) and its parser; each command's effect is one script (`store/scripts/lua/cmd_*.lua`),
//! run after the shared prelude that claims the provider message id in the same atomic step.
//!
//! Matching is case-, accent- and punctuation-insensitive ([`Text`]). STOP is tried first, so no
//! other reading can shadow an opt-out; anything unrecognised is [`Command::Unknown`].

mod balance;
mod birthday;
mod help;
mod join;
mod lang;
mod name;
mod redeem;
mod refer;
mod rewards;
mod start;
mod stop;
mod unknown;

use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::keyword::{self, Words};
use crate::domain::{PhoneNumber, Program, Programs};
use crate::metrics::Metrics;
pub use crate::store::scripts::inbound::Effect;
use crate::store::scripts::inbound::{
    CommandArgs, CommandScript, Inbound as InboundCall, InboundReply,
};
use crate::store::scripts::ledger::RewardTerms;
use crate::store::Store;
use crate::store::{ProgramKeys, StoreError};

/// An inbound text, normalised for matching ([`keyword::normalise`]), and the raw text for the
/// commands that keep part of it as written (NAME).
pub struct Text<'a> {
    raw: &'a str,
    normalised: String,
}

impl<'a> Text<'a> {
    pub fn new(raw: &'a str) -> Self {
        Self {
            raw,
            normalised: keyword::normalise(raw),
        }
    }

    pub fn normalised(&self) -> &str {
        &self.normalised
    }

    /// The text as it arrived.
    pub fn raw(&self) -> &str {
        self.raw
    }

    pub fn first_word(&self) -> &str {
        self.normalised.split(' ').next().unwrap_or("")
    }

    /// Normalised words after the first.
    pub fn rest(&self) -> &str {
        self.normalised
            .split_once(' ')
            .map(|(_, rest)| rest)
            .unwrap_or("")
    }

    /// The original text after the first word, trimmed (for NAME, which keeps case and accents).
    pub fn raw_rest(&self) -> &str {
        self.raw
            .trim()
            .split_once(char::is_whitespace)
            .map(|(_, rest)| rest.trim())
            .unwrap_or("")
    }

    /// The whole text is one of `words`.
    fn is(&self, words: &Words) -> bool {
        words.matches(&self.normalised)
    }

    /// The first word is one of `words` ("HELP me").
    fn starts_with_word(&self, words: &Words) -> bool {
        words.matches(self.first_word())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// With a member's join word when the text was "JOIN ANA7".
    Join(Option<String>),
    Refer,
    /// `MM-DD`.
    Birthday(String),
    Stop,
    Start,
    Help,
    Balance,
    Rewards,
    /// The reward id as typed (matched case-insensitively against the catalogue).
    Redeem(String),
    Name(String),
    /// A shipped locale, or `None` when the language asked for is not one.
    Lang(Option<&'static str>),
    Unknown,
}

impl Command {
    /// The command's name, as a metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Join(_) => "join",
            Self::Refer => "refer",
            Self::Birthday(_) => "birthday",
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Help => "help",
            Self::Balance => "balance",
            Self::Rewards => "rewards",
            Self::Redeem(_) => "redeem",
            Self::Name(_) => "name",
            Self::Lang(_) => "lang",
            Self::Unknown => "unknown",
        }
    }
}

/// A command and the language its keyword was in, when that says something (`ÚNETE` is es).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub command: Command,
    pub locale: Option<&'static str>,
}

impl Parsed {
    fn new(command: Command) -> Self {
        Self {
            command,
            locale: None,
        }
    }
}

pub fn parse(raw: &str, program: &Program) -> Parsed {
    let text = Text::new(raw);
    stop::parse(&text)
        .or_else(|| join::parse(&text, program))
        .or_else(|| start::parse(&text))
        .or_else(|| help::parse(&text))
        .or_else(|| balance::parse(&text))
        .or_else(|| rewards::parse(&text))
        .or_else(|| redeem::parse(&text))
        .or_else(|| name::parse(&text))
        .or_else(|| lang::parse(&text))
        .or_else(|| refer::parse(&text))
        .or_else(|| birthday::parse(&text))
        .unwrap_or_else(unknown::parse)
}

/// A text that arrived through a provider webhook (or `loyalty-gateway text`).
#[derive(Debug, Clone)]
pub struct Inbound {
    pub from: PhoneNumber,
    pub text: String,
    /// The provider's message id: the key of exactly-once processing.
    pub provider_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    /// The command ran; the script says what it did.
    Applied(Effect),
    /// This provider message id was processed before.
    Duplicate,
    /// Nothing was done, for this reason.
    Ignored(Ignored),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// From one of our own numbers: two gateways would talk forever.
    OwnNumber,
    /// Over the per-phone allowance (STOP is never limited).
    RateLimited,
}

/// Longest inbound text stored in a consent record.
const MAX_STORED_TEXT: usize = 1600;

/// What the engine needs to know of the settings.
#[derive(Debug, Clone)]
pub struct InboundPolicy {
    pub message_ttl_secs: u64,
    /// How long an issued code stays readable after it expires (as long as receipts).
    pub code_ttl_secs: u64,
    pub max_replies_per_hour: u32,
    pub inbound_per_minute: u32,
}

impl InboundPolicy {
    pub fn from_settings(settings: &crate::configuration::Settings) -> Self {
        Self {
            message_ttl_secs: settings.ledger.message_retention_days * 86_400,
            code_ttl_secs: settings.ledger.receipt_retention_days * 86_400,
            max_replies_per_hour: settings.sms.max_replies_per_hour,
            inbound_per_minute: settings.sms.inbound_per_minute,
        }
    }
}

/// The keyword engine: parses an inbound text and applies it with one script.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    prefix: String,
    clock: Clock,
    programs: Arc<Programs>,
    policy: InboundPolicy,
    metrics: Arc<Metrics>,
}

impl Engine {
    pub fn new(
        store: Store,
        prefix: &str,
        clock: Clock,
        programs: Arc<Programs>,
        policy: InboundPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            prefix: prefix.to_owned(),
            clock,
            programs,
            policy,
            metrics,
        }
    }

    /// The same engine on `store`.
    pub fn with_store(&self, store: Store) -> Self {
        Self {
            store,
            ..self.clone()
        }
    }

    /// Parses and applies one inbound text for `program`.
    #[tracing::instrument(skip_all, fields(program = %program.id, from = %inbound.from.masked()))]
    pub async fn handle(
        &self,
        program: &Program,
        inbound: &Inbound,
    ) -> Result<InboundOutcome, StoreError> {
        if self.programs.is_own_number(&inbound.from) {
            tracing::warn!("ignored a text from one of our own numbers");
            self.metrics.inbound_ignored("own_number");
            return Ok(InboundOutcome::Ignored(Ignored::OwnNumber));
        }
        let parsed = parse(&inbound.text, program);
        let text: String = inbound.text.chars().take(MAX_STORED_TEXT).collect();
        let (command, args) = match &parsed.command {
            Command::Join(None) => (CommandScript::Join, CommandArgs::None {}),
            Command::Join(Some(referral)) => (CommandScript::Join, CommandArgs::Join { referral }),
            Command::Refer => {
                let join_word = program.join_keywords.first().map_or("JOIN", String::as_str);
                let number = program.numbers.first().map_or("", |n| n.as_str());
                (
                    CommandScript::Refer,
                    CommandArgs::Refer { join_word, number },
                )
            }
            Command::Stop => (CommandScript::Stop, CommandArgs::None {}),
            Command::Start => (CommandScript::Start, CommandArgs::None {}),
            Command::Help => (CommandScript::Help, CommandArgs::None {}),
            Command::Balance => (CommandScript::Balance, CommandArgs::None {}),
            Command::Rewards => (CommandScript::Rewards, CommandArgs::None {}),
            Command::Unknown => (CommandScript::Unknown, CommandArgs::None {}),
            Command::Redeem(wanted) => {
                let reward = program
                    .rewards
                    .iter()
                    .find(|r| r.id.as_str().eq_ignore_ascii_case(wanted))
                    .map(|r| RewardTerms {
                        id: r.id.as_str(),
                        points: r.points,
                        valid_days: r.valid_days,
                    });
                let args = CommandArgs::Redeem {
                    reward,
                    code_seed: crate::ledger::code_seed(),
                    code_ttl_secs: self.policy.code_ttl_secs,
                };
                (CommandScript::Redeem, args)
            }
            Command::Name(first_name) => (CommandScript::Name, CommandArgs::Name { first_name }),
            Command::Birthday(birthday) => {
                (CommandScript::Birthday, CommandArgs::Birthday { birthday })
            }
            Command::Lang(locale) => (CommandScript::Lang, CommandArgs::Lang { locale: *locale }),
        };
        let call = InboundCall {
            rules: program.rules_json(),
            command,
            provider_id: &inbound.provider_id,
            phone: inbound.from.as_str(),
            text: &text,
            message_ttl_secs: self.policy.message_ttl_secs,
            max_replies_per_hour: self.policy.max_replies_per_hour,
            keyword_locale: parsed.locale,
            welcome_points: program.welcome_points,
            program_locale: &program.locale,
            // A flood or an auto-responder loop cannot make the gateway work (and reply)
            // without end; STOP is honoured whatever the rate. The limit is kept by the script,
            // so every process behind a load balancer shares it.
            per_minute: (parsed.command != Command::Stop).then_some(self.policy.inbound_per_minute),
            args,
        };
        let keys = ProgramKeys::new(&self.prefix, &program.id);
        Ok(
            match self.store.call(&keys, self.clock.now(), &call).await? {
                InboundReply::Ok { effect } => {
                    self.metrics.inbound(parsed.command.label());
                    tracing::info!(command = ?parsed.command, ?effect, "inbound text");
                    InboundOutcome::Applied(effect)
                }
                InboundReply::Duplicate => InboundOutcome::Duplicate,
                InboundReply::RateLimited => {
                    tracing::warn!("inbound rate limit reached; text ignored");
                    self.metrics.inbound_ignored("rate_limited");
                    InboundOutcome::Ignored(Ignored::RateLimited)
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> Program {
        let toml = r#"
[[programs]]
id = "bloom"
name = "Bloom"
join_keywords = ["BLOOM", "Flor"]
[[programs.rewards]]
id = "r25"
points = 5000
"#;
        crate::configuration::parse_str(toml)
            .unwrap()
            .programs
            .remove(0)
    }

    fn command(text: &str) -> Command {
        parse(text, &program()).command
    }

    #[test]
    fn every_opt_out_keyword_and_plain_request_is_stop() {
        for text in [
            "STOP",
            "stop",
            "Stop!",
            " STOP ",
            "STOPALL",
            "STOP ALL",
            "stop all",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "REVOKE",
            "OPTOUT",
            "OPT OUT",
            "opt-out",
            "ARRET",
            "REMOVE",
            "TD",
            "please stop texting me",
            "Remove me from this list",
            "take me off your list",
            "wrong number",
            "Don't text me anymore",
            "STOP please",
            "ALTO",
            "Parar",
            "BAJA",
            "cancelar",
            "número equivocado",
            "SAIR",
            "Pare de me mandar mensagem",
            "توقف",
            "إلغاء",
        ] {
            assert_eq!(command(text), Command::Stop, "{text:?}");
        }
    }

    #[test]
    fn a_negated_request_is_not_an_opt_out() {
        for text in [
            "Don't stop sending me deals!",
            "do not unsubscribe me",
            "Please never stop the texts",
            "I don't want you to stop texting me",
            "Don’t ever remove me from this list",
            "do not take me off your list",
            "No dejen de enviarme ofertas",
            "Não pare de me mandar promoções",
            "لا توقفوا",
        ] {
            assert_ne!(command(text), Command::Stop, "{text:?}");
        }
    }

    #[test]
    fn a_negation_in_another_clause_does_not_save_a_request() {
        for text in [
            "I don't like this, stop texting me",
            "Not interested. Unsubscribe",
            "no thanks, remove me",
            "I never signed up! Wrong number",
            "don't text me",
            "do not message me again",
            "no more texts",
        ] {
            assert_eq!(command(text), Command::Stop, "{text:?}");
        }
    }

    #[test]
    fn stop_words_inside_other_sentences_do_not_opt_out() {
        for text in [
            "The end of the line",
            "cancellation policy?",
            "Can I stop by later",
        ] {
            assert_ne!(command(text), Command::Stop, "{text:?}");
        }
    }

    #[test]
    fn join_keywords_include_the_programs_own_and_set_the_language() {
        assert_eq!(command("join"), Command::Join(None));
        assert_eq!(command("Bloom"), Command::Join(None));
        assert_eq!(command("FLOR"), Command::Join(None));
        let es = parse("Únete", &program());
        assert_eq!((es.command, es.locale), (Command::Join(None), Some("es")));
        let pt = parse("ENTRAR", &program());
        assert_eq!((pt.command, pt.locale), (Command::Join(None), Some("pt")));
        let ar = parse("اشترك", &program());
        assert_eq!((ar.command, ar.locale), (Command::Join(None), Some("ar")));
        assert_eq!(parse("JOIN", &program()).locale, None);
        // A friend's join word.
        assert_eq!(command("join ana7"), Command::Join(Some("ANA7".into())));
        assert_eq!(command("Bloom ana7!"), Command::Join(Some("ANA7".into())));
        assert_ne!(command("join me please"), Command::Join(None));
        assert_eq!(command("refer"), Command::Refer);
        assert_eq!(command("Indicar"), Command::Refer);
    }

    #[test]
    fn opt_in_help_balance_and_rewards_in_every_locale() {
        for (text, expected) in [
            ("START", Command::Start),
            ("unstop", Command::Start),
            ("Yes", Command::Start),
            ("yes!", Command::Start),
            ("SÍ", Command::Start),
            ("sim", Command::Start),
            ("نعم", Command::Start),
            ("HELP", Command::Help),
            ("info", Command::Help),
            ("AYUDA", Command::Help),
            ("Ajuda", Command::Help),
            ("مساعدة", Command::Help),
            ("BAL", Command::Balance),
            ("Balance?", Command::Balance),
            ("points", Command::Balance),
            ("SALDO", Command::Balance),
            ("puntos", Command::Balance),
            ("pontos", Command::Balance),
            ("رصيد", Command::Balance),
            ("REWARDS", Command::Rewards),
            ("premios", Command::Rewards),
            ("PRÊMIOS", Command::Rewards),
            ("مكافآت", Command::Rewards),
            ("Si quiero saber mi saldo", Command::Unknown),
            ("hello there", Command::Unknown),
            ("", Command::Unknown),
            ("🙂", Command::Unknown),
        ] {
            assert_eq!(command(text), expected, "{text:?}");
        }
    }

    #[test]
    fn commands_with_an_argument() {
        assert_eq!(command("REDEEM r25"), Command::Redeem("R25".into()));
        assert_eq!(command("canjear R25"), Command::Redeem("R25".into()));
        assert_eq!(command("redeem"), Command::Rewards);
        assert_eq!(
            command("NAME José María"),
            Command::Name("José María".into())
        );
        assert_eq!(command("nombre Ana"), Command::Name("Ana".into()));
        assert_eq!(command("NAME"), Command::Unknown);
        assert_eq!(command("NAME x\u{7}y"), Command::Unknown);
        assert_eq!(command("LANG es"), Command::Lang(Some("es")));
        assert_eq!(command("idioma Español"), Command::Lang(Some("es")));
        assert_eq!(command("lang portugues"), Command::Lang(Some("pt")));
        assert_eq!(command("LANG العربية"), Command::Lang(Some("ar")));
        assert_eq!(command("LANG klingon"), Command::Lang(None));
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_text_never_panics(text in "\\PC{0,300}") {
            let _ = parse(&text, &program());
        }
    }
}
