//! Message templates: minijinja, `templates/{locale}/{name}.txt`, built into the binary.
//!
//! Files under `templates.dir` override or add to the built-in ones. Undefined variables are
//! errors (a typo must fail `check`, not send "Balance  pts"). Rendering tries the member's
//! locale, then the program's, then `en`. [`Templates::context`] builds the variables every
//! template may use, so a message only carries what is specific to it.

use std::path::Path;

use anyhow::Context;
use include_dir::{include_dir, Dir};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{json, Map, Value};

use crate::clock::rfc3339_from_ms;
use crate::domain::Program;
use crate::domain::{LocationId, RewardCode};

pub const SHIPPED_LOCALES: &[&str] = &["en", "es", "pt", "ar"];
pub const FALLBACK_LOCALE: &str = "en";

/// Every template the service renders; each shipped locale has all of them.
pub const TEMPLATE_NAMES: &[&str] = &[
    "welcome",
    "earn",
    "reverse",
    "redeem",
    "reward_issued",
    "balance",
    "rewards",
    "help",
    "stop",
    "start",
    "confirm",
    "unknown",
    "name",
    "lang",
    "refer",
    "referral_bonus",
    "near_reward",
    "win_back",
    "reward_expiring",
    "bday",
    "birthday",
    "points_expiring",
];

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

pub struct Templates {
    env: Environment<'static>,
}

/// The variables a campaign body may use.
pub const CAMPAIGN_VARIABLES: &[&str] = &[
    "first_name",
    "balance",
    "program",
    "points_to_next_reward",
    "next_reward",
    "help_contact",
];

/// A campaign body, compiled (see [`Templates::campaign_body`]).
pub struct CampaignBody {
    env: Environment<'static>,
}

impl CampaignBody {
    pub fn render(&self, context: impl serde::Serialize) -> Result<String, minijinja::Error> {
        let template = self.env.get_template("campaign")?;
        Ok(template.render(context)?.trim().to_owned())
    }
}

/// The variables of [`CAMPAIGN_VARIABLES`] for one member, and nothing else: what a preview
/// renders a hundred thousand times. [`Templates::context`] gives the same values (a test holds
/// the two together) but builds every template's variables.
#[derive(serde::Serialize)]
pub struct CampaignContext<'a> {
    first_name: &'a str,
    balance: i64,
    program: &'a str,
    points_to_next_reward: i64,
    next_reward: &'a str,
    help_contact: &'a str,
}

impl<'a> CampaignContext<'a> {
    pub fn new(program: &'a Program, first_name: Option<&'a str>, balance: i64) -> Self {
        let (next_reward, points_to_next_reward) = program
            .next_reward(balance)
            .map(|(r, n)| (r.description.as_str(), n))
            .unwrap_or_default();
        Self {
            first_name: first_name.unwrap_or(""),
            balance,
            program: &program.name,
            points_to_next_reward,
            next_reward,
            help_contact: &program.help_contact,
        }
    }
}

/// `4880` → `4,880`.
fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Templates {
    /// The built-in templates, then every `*.txt` under `dir/{locale}/` on top.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(false);
        env.add_filter("num", thousands);
        for locale_dir in BUILTIN.dirs() {
            for file in locale_dir.files() {
                let name = file.path().to_string_lossy().replace('\\', "/");
                let source = file
                    .contents_utf8()
                    .with_context(|| format!("built-in template {name} is not UTF-8"))?;
                env.add_template_owned(name.clone(), source.trim_end().to_owned())
                    .with_context(|| format!("built-in template {name}"))?;
            }
        }
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir)
                .with_context(|| format!("templates.dir {} cannot be read", dir.display()))?;
            for locale in entries {
                let locale = locale?;
                if !locale.file_type()?.is_dir() {
                    continue;
                }
                let locale_name = locale.file_name().to_string_lossy().into_owned();
                for file in std::fs::read_dir(locale.path())? {
                    let path = file?.path();
                    if path.extension().and_then(|e| e.to_str()) != Some("txt") {
                        continue;
                    }
                    let stem = path.file_name().unwrap_or_default().to_string_lossy();
                    let name = format!("{locale_name}/{stem}");
                    let source = std::fs::read_to_string(&path)
                        .with_context(|| format!("template {}", path.display()))?;
                    env.add_template_owned(name.clone(), source.trim_end().to_owned())
                        .with_context(|| format!("template {}: syntax error", path.display()))?;
                }
            }
        }
        Ok(Self { env })
    }

    /// Renders every template in every shipped locale for each program with sample values, so a
    /// broken override (syntax, a misspelt variable) stops start-up instead of a send.
    pub fn validate(&self, programs: &[Program]) -> anyhow::Result<()> {
        for program in programs {
            let context = Self::sample_context(program);
            for locale in SHIPPED_LOCALES {
                for name in TEMPLATE_NAMES {
                    self.render(&[locale], name, &context).with_context(|| {
                        format!(
                            "template {locale}/{name}.txt for program {:?}",
                            program.id.as_str()
                        )
                    })?;
                }
            }
            // Automations' own bodies: campaign variables only, and they must render.
            for (name, body) in program.automations.bodies() {
                let Some(body) = body else { continue };
                let at = || {
                    format!(
                        "programs {:?}: automations.{name} body",
                        program.id.as_str()
                    )
                };
                let compiled = self
                    .campaign_body(body)
                    .map_err(anyhow::Error::msg)
                    .with_context(at)?;
                compiled
                    .render(CampaignContext::new(program, Some("Alex"), 4880))
                    .with_context(at)?;
            }
        }
        Ok(())
    }

    /// Template names present for `locale`.
    pub fn has(&self, locale: &str, name: &str) -> bool {
        self.env
            .get_template(&format!("{locale}/{name}.txt"))
            .is_ok()
    }

    /// Renders `name` in the first of `locales` (then `en`) that has it.
    pub fn render(
        &self,
        locales: &[&str],
        name: &str,
        context: &Value,
    ) -> Result<String, minijinja::Error> {
        let locale = locales
            .iter()
            .copied()
            .chain(std::iter::once(FALLBACK_LOCALE))
            .find(|l| self.has(l, name))
            .unwrap_or(FALLBACK_LOCALE);
        let template = self.env.get_template(&format!("{locale}/{name}.txt"))?;
        let text = template.render(context)?;
        Ok(text.trim().to_owned())
    }

    /// A campaign body, compiled once with the same filters and strictness, after checking
    /// that it names only the variables a member has (`CAMPAIGN_VARIABLES`): a misspelt
    /// variable inside an `if` would otherwise fail only for the members who reach it.
    pub fn campaign_body(&self, source: &str) -> Result<CampaignBody, String> {
        let mut env = self.env.clone();
        env.add_template_owned("campaign", source.to_owned())
            .map_err(|e| format!("the body is not a valid template: {e}"))?;
        let template = env.get_template("campaign").expect("just added");
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !CAMPAIGN_VARIABLES.contains(&v.as_str()))
            .collect();
        unknown.sort();
        if !unknown.is_empty() {
            return Err(format!(
                "the body uses {} which a member does not have (use {})",
                unknown.join(", "),
                CAMPAIGN_VARIABLES.join(", ")
            ));
        }
        Ok(CampaignBody { env })
    }

    /// Renders a one-off template (a campaign body) with the same filters and strictness.
    pub fn render_str(&self, source: &str, context: &Value) -> Result<String, minijinja::Error> {
        Ok(self.env.render_str(source, context)?.trim().to_owned())
    }

    /// The variables every template may use, with `vars` (a message's own values) on top.
    /// `vars` may carry ids (`location`, `reward`, `rewards_issued`); they are turned into what a
    /// customer should read (names, descriptions, display codes, dates).
    pub fn context(program: &Program, first_name: Option<&str>, vars: &Value) -> Value {
        let balance = vars.get("balance").and_then(Value::as_i64).unwrap_or(0);
        let (next_reward, to_next) = program
            .next_reward(balance)
            .map(|(r, n)| (r.description.clone(), n))
            .unwrap_or_default();
        let catalogue: Vec<Value> = program
            .rewards
            .iter()
            .map(|r| json!({ "id": r.id.as_str(), "description": r.description, "points": r.points }))
            .collect();
        let mut ctx = json!({
            "program": program.name,
            "help_contact": program.help_contact,
            "first_name": first_name.unwrap_or(""),
            "balance": balance,
            "points": 0,
            "welcome_points": program.welcome_points,
            "location": "",
            "next_reward": next_reward,
            "points_to_next_reward": to_next,
            "catalogue": catalogue,
            "codes": [],
            "rewards_issued": [],
            "reward": "",
            "code": "",
            "expires": "",
            "bonus_multiplier": 0,
            "bonus_until": "",
            "bonus_points": 0,
            "birthday": "",
        });
        let map = ctx.as_object_mut().expect("object literal");
        if let Some(vars) = vars.as_object() {
            for (k, v) in vars {
                map.insert(k.clone(), v.clone());
            }
        }
        humanise(program, map);
        ctx
    }

    /// Sample values for `check` and tests: every variable set, lists non-empty.
    pub fn sample_context(program: &Program) -> Value {
        let reward = program.rewards.first();
        let reward_id = reward.map(|r| r.id.as_str()).unwrap_or("r1");
        let code =
            json!({ "code": "7KQMX4TZ", "reward": reward_id, "expires_ms": 1_900_000_000_000i64 });
        let location = program
            .locations
            .first()
            .map(|l| l.id.as_str())
            .unwrap_or("store");
        Self::context(
            program,
            Some("Alex"),
            &json!({
                "balance": 4880, "points": 120, "location": location, "reward": reward_id,
                "code": "7KQMX4TZ", "expires_ms": 1_900_000_000_000i64,
                "rewards_issued": [code.clone()], "codes": [code],
                "join_word": "JOIN ALEX7", "number": "+15005550006", "bonus_points": 200,
                "bonus_multiplier": 2, "bonus_until_ms": 1_900_000_000_000i64,
                "birthday": "03-15",
            }),
        )
    }
}

fn humanise(program: &Program, map: &mut Map<String, Value>) {
    if let Some(Value::String(id)) = map.get("location") {
        if let Some(loc) = LocationId::parse(id)
            .ok()
            .and_then(|l| program.location(&l))
        {
            map.insert("location".into(), Value::String(loc.name.clone()));
        }
    }
    if let Some(Value::String(id)) = map.get("reward").cloned() {
        if !id.is_empty() {
            map.insert(
                "reward".into(),
                Value::String(program.reward_description(&id)),
            );
        }
    }
    if let Some(Value::String(code)) = map.get("code").cloned() {
        map.insert("code".into(), Value::String(RewardCode::display(&code)));
    }
    if let Some(ms) = map.get("expires_ms").and_then(Value::as_i64) {
        map.insert("expires".into(), Value::String(date_only(ms)));
    }
    if let Some(ms) = map.get("bonus_until_ms").and_then(Value::as_i64) {
        map.insert("bonus_until".into(), Value::String(date_only(ms)));
    }
    for list in ["rewards_issued", "codes"] {
        let items = match map.get(list) {
            Some(Value::Array(items)) => items.clone(),
            // Lua's cjson writes an empty list as an empty object.
            _ => Vec::new(),
        };
        let items: Vec<Value> = items
            .iter()
            .map(|item| {
                let code = item.get("code").and_then(Value::as_str).unwrap_or("");
                let reward = item.get("reward").and_then(Value::as_str).unwrap_or("");
                let expires = item.get("expires_ms").and_then(Value::as_i64).unwrap_or(0);
                json!({
                    "code": RewardCode::display(code),
                    "reward": reward,
                    "description": program.reward_description(reward),
                    "expires": date_only(expires),
                })
            })
            .collect();
        map.insert(list.into(), Value::Array(items));
    }
}

fn date_only(ms: i64) -> String {
    rfc3339_from_ms(ms).chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(4880), "4,880");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1200), "-1,200");
        assert_eq!(thousands(999), "999");
    }

    fn sample_program() -> Program {
        let toml = r#"
[[programs]]
id = "bloom"
name = "Bloom Rewards"
help_contact = "bloom.example/help"
[[programs.rewards]]
id = "r25"
points = 5000
description = "$25 reward card"
[[programs.locations]]
id = "store-12"
name = "Downtown"
"#;
        crate::configuration::parse_str(toml)
            .unwrap()
            .programs
            .remove(0)
    }

    #[test]
    fn every_template_renders_in_every_locale() {
        let templates = Templates::load(None).unwrap();
        let program = sample_program();
        templates.validate(std::slice::from_ref(&program)).unwrap();
        let context = Templates::sample_context(&program);
        for locale in SHIPPED_LOCALES {
            for name in TEMPLATE_NAMES {
                let text = templates.render(&[locale], name, &context).unwrap();
                assert!(
                    text.starts_with("Bloom Rewards:"),
                    "{locale}/{name}: {text}"
                );
                assert!(
                    !text.contains("{{") && !text.contains("{%"),
                    "{locale}/{name}: {text}"
                );
            }
        }
        let earn = templates.render(&["en"], "earn", &context).unwrap();
        assert!(earn.contains("+120 pts at Downtown"), "{earn}");
        assert!(earn.contains("Balance 4,880 pts"), "{earn}");
        assert!(earn.contains("7KQM-X4TZ"), "{earn}");
    }

    #[test]
    fn a_misspelt_variable_is_an_error_not_a_blank() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        std::fs::write(
            dir.path().join("en/help.txt"),
            "{{ program }}: {{ help_contcat }}",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let error = templates.validate(&[sample_program()]).unwrap_err();
        assert!(format!("{error:#}").contains("en/help.txt"), "{error:#}");
    }

    #[test]
    fn locales_fall_back_from_member_to_program_to_english() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("fr")).unwrap();
        std::fs::write(dir.path().join("fr/help.txt"), "{{ program }}: aide").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let context = Templates::sample_context(&sample_program());
        assert_eq!(
            templates.render(&["fr", "es"], "help", &context).unwrap(),
            "Bloom Rewards: aide"
        );
        assert!(templates
            .render(&["fr", "es"], "balance", &context)
            .unwrap()
            .contains("Tienes"));
        assert!(templates
            .render(&["fr"], "balance", &context)
            .unwrap()
            .contains("You have"));
    }

    #[test]
    fn a_campaign_context_holds_what_the_full_context_holds_for_campaign_variables() {
        let program = sample_program();
        for (first_name, balance) in [(None, 0), (Some("Zoë"), 4_999), (Some("Al"), 9_999_999)] {
            let full = Templates::context(&program, first_name, &json!({ "balance": balance }));
            let lean =
                serde_json::to_value(CampaignContext::new(&program, first_name, balance)).unwrap();
            for variable in CAMPAIGN_VARIABLES {
                assert_eq!(
                    lean[variable], full[variable],
                    "{variable} for {first_name:?}"
                );
            }
        }
    }

    #[test]
    fn every_shipped_locale_has_every_template() {
        let templates = Templates::load(None).unwrap();
        for locale in SHIPPED_LOCALES {
            for name in TEMPLATE_NAMES {
                assert!(
                    templates.has(locale, name),
                    "{locale}/{name}.txt is missing"
                );
            }
        }
    }
}
