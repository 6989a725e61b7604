//! The `loyalty-gateway` command line.
//!
//! The commands' doc comments are their `--help` text, written for a terminal: `[[api_keys]]`
//! and `<program>` there are TOML and placeholders, not rustdoc links and HTML tags.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use clap::{Args, Parser, Subcommand};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::campaigns::LIST_LIMIT;
use crate::configuration::{self, Settings};
use crate::embedded::{self, Embedded};
use crate::segments;
use crate::startup::Application;
use crate::templates::{Templates, SHIPPED_LOCALES, TEMPLATE_NAMES};

#[derive(Parser, Debug)]
#[command(
    name = "loyalty-gateway",
    version,
    about = "SMS-first customer loyalty gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// Configuration file (else $LOYALTY_CONFIG, else config/default.toml, else the built-in default).
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP API, the outbound sender and the scheduler.
    Serve(ConfigArg),
    /// Validate the configuration and render every template.
    Check(ConfigArg),
    /// Simulate an inbound SMS: post a correctly signed Twilio webhook to a running gateway.
    Text(TextArgs),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// List, show, preview and send campaigns (the marketing API, for operators without curl).
    Campaigns(CampaignsArgs),
    /// Import members from a CSV file (a header row names the columns).
    Import(ImportArgs),
    /// Export members (CSV) or their history (JSON lines).
    Export(ExportArgs),
    /// Check every balance against its history, lots, codes and the program's counters; exits
    /// non-zero when anything does not add up.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only this program (default: every configured program).
    #[arg(long)]
    pub program: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The program to import into (default: the only one configured).
    #[arg(long)]
    pub program: Option<String>,
    #[arg(long, value_name = "COLUMN", default_value = "phone")]
    pub phone_column: String,
    #[arg(long, value_name = "COLUMN", default_value = "first_name")]
    pub name_column: String,
    #[arg(long, value_name = "COLUMN", default_value = "locale")]
    pub locale_column: String,
    /// A value like yes, y, true, 1 or x makes the member active; anything else, pending.
    #[arg(long, value_name = "COLUMN", default_value = "consent")]
    pub consent_column: String,
    /// Opening balance in points.
    #[arg(long, value_name = "COLUMN", default_value = "balance")]
    pub balance_column: String,
    /// Check every row and count what would happen; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Text each new pending member the one "Reply YES" request (throttled like every text).
    #[arg(long)]
    pub request_consent: bool,
    /// The CSV file.
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The program to export (default: the only one configured).
    #[arg(long, global = true)]
    pub program: Option<String>,
    /// Write here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
    #[command(subcommand)]
    pub what: ExportWhat,
}

#[derive(Subcommand, Debug, Clone, Copy)]
pub enum ExportWhat {
    /// One CSV row per member.
    Members,
    /// One JSON object per history entry, per line.
    History,
}

#[derive(Args, Debug)]
pub struct CampaignsArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The program (default: the only one configured).
    #[arg(long, global = true)]
    pub program: Option<String>,
    #[command(subcommand)]
    pub command: CampaignsCommand,
}

#[derive(Subcommand, Debug)]
pub enum CampaignsCommand {
    /// Every campaign, newest first, with its counts.
    List,
    /// One campaign as the API shows it (JSON).
    Show { id: String },
    /// Recipients, segments and cost if it were sent now (JSON).
    Preview { id: String },
    /// Send it: a running `serve` queues and sends its texts, once per member.
    Send { id: String },
}

#[derive(Args, Debug)]
pub struct TextArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The customer's number (national numbers use the program's country).
    #[arg(long)]
    pub from: String,
    /// The program's number texted (default: the first program's sending number).
    #[arg(long)]
    pub to: Option<String>,
    /// Where to post (default: server.public_url). The signature is always computed for
    /// server.public_url, as Twilio would.
    #[arg(long)]
    pub url: Option<String>,
    /// The message text.
    #[arg(required = true, num_args = 1..)]
    pub body: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Print a fresh random API key (once) and the [[api_keys]] entry that accepts it.
    New(NewKey),
    /// Print a fresh webhook signing secret (whsec_...) and a [[webhooks]] entry that uses it.
    WebhookSecret,
    /// Read a password on standard input and print the [[dashboard_users]] entry (an Argon2id
    /// hash) that signs in to the dashboard with it.
    DashboardUser(NewDashboardUser),
}

#[derive(Args, Debug)]
pub struct NewDashboardUser {
    /// The name they sign in with.
    #[arg(long)]
    pub name: String,
    /// The program whose dashboard they see.
    #[arg(long)]
    pub program: String,
    /// marketing, or admin (who may also adjust points, erase members and requeue texts).
    #[arg(long, value_parser = ["marketing", "admin"])]
    pub scope: String,
}

/// Passwords shorter than this are refused (NIST SP 800-63B asks for at least 8; a dashboard
/// that can text every customer deserves more).
const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Args, Debug)]
pub struct NewKey {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The program the key acts for.
    #[arg(long)]
    pub program: String,
    /// pos, marketing or admin; repeat for several.
    #[arg(long = "scope", required = true, value_parser = ["pos", "marketing", "admin"])]
    pub scopes: Vec<String>,
    /// Limit the key to a location; repeat for several.
    #[arg(long = "location")]
    pub locations: Vec<String>,
    /// A name for logs (default: <program>-<scope>).
    #[arg(long)]
    pub name: Option<String>,
}

pub async fn run(cli: Cli) -> ExitCode {
    if !matches!(cli.command, Command::Serve(_)) {
        // Commands that print (`check | head`) end quietly when the reader goes away, as Unix
        // tools do, instead of panicking on a write to a closed pipe. `serve` keeps Rust's
        // default (SIGPIPE ignored), so a client that hangs up is an error, not the end.
        // SAFETY: setting a signal's disposition to its default touches no memory.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Check(args) => check(args),
        Command::Text(args) => text(args).await,
        Command::Keys {
            command: KeysCommand::New(args),
        } => new_key(args),
        Command::Keys {
            command: KeysCommand::WebhookSecret,
        } => {
            webhook_secret();
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::DashboardUser(args),
        } => dashboard_user(args),
        Command::Campaigns(args) => campaigns(args).await,
        Command::Import(args) => import(args).await,
        Command::Export(args) => export(args).await,
        Command::Verify(args) => verify(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: &ConfigArg) -> anyhow::Result<Settings> {
    Ok(configuration::load(args.config.as_deref())?)
}

async fn serve(args: ConfigArg) -> anyhow::Result<()> {
    let mut settings = load(&args)?;
    let _log_writer = crate::telemetry::init(&settings.log);
    let mut embedded_server = None;
    let url = settings.redis.url.expose_secret().to_owned();
    let origin = if settings.redis.is_cluster() {
        "a Redis Cluster; redis.url is not used"
    } else if settings.redis.embedded && !embedded::answers(&url, settings.redis.timeout()).await {
        // Started on this (the main) thread, not a blocking-pool one: the child is tied to the
        // thread that spawned it (PR_SET_PDEATHSIG), and pool threads retire when idle.
        let server = Embedded::start_or_join(&settings.redis.data_dir)?;
        settings.redis.url = SecretString::from(server.url());
        let origin = if server.started_here() {
            "embedded: no Redis answered at redis.url, so this gateway started a redis-server"
        } else {
            "embedded: started by another serve on the same redis.data_dir"
        };
        embedded_server = Some(server);
        origin
    } else {
        "not started by the gateway"
    };
    let redis = if settings.redis.is_cluster() {
        settings
            .redis
            .cluster_nodes
            .iter()
            .map(|n| redacted_url(n.expose_secret()))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        redacted_url(settings.redis.url.expose_secret())
    };
    tracing::info!(
        %redis,
        data_dir = %settings.redis.data_dir.display(),
        min_replicas_acked = settings.redis.min_replicas_acked,
        "using Redis at {redis} ({origin})",
    );
    let bind_host = settings.server.bind.clone();
    let http_workers = settings.server.http_workers();
    let app = Application::build(settings).await?.stop_on_signals();
    let host = bind_host
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("127.0.0.1");
    let addr = format!("{host}:{}", app.port());
    tracing::info!(%addr, http_workers, "listening on {addr}");
    println!("listening on {addr}");
    let result = app.run_until_stopped().await;
    if let Some(server) = embedded_server {
        if server.started_here() {
            tracing::info!("stopping the embedded redis-server (last, after the workers)");
        }
        drop(server);
    }
    tracing::info!("stopped");
    result
}

/// A Redis URL without its credentials, for logs.
fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            if !parsed.username().is_empty() {
                let _ = parsed.set_username("***");
            }
            parsed.to_string()
        }
        Err(_) => "(unparseable URL)".to_owned(),
    }
}

fn check(args: ConfigArg) -> anyhow::Result<()> {
    let settings = load(&args)?;
    let templates = Templates::load(settings.templates.dir.as_deref())?;
    let max = settings.sms.max_segments;
    let mut problems = Vec::new();
    println!(
        "configuration ok: {} program(s), {} API key(s)",
        settings.programs.len(),
        settings.api_keys.len()
    );
    for program in &settings.programs {
        let context = worst_case_context(program);
        for locale in SHIPPED_LOCALES {
            for name in TEMPLATE_NAMES {
                match templates.render(&[locale], name, &context) {
                    Ok(text) => {
                        let text = if settings.sms.smart_encoding {
                            segments::smart_encode(&text)
                        } else {
                            text
                        };
                        let count = segments::count(&text);
                        println!(
                            "{:<10} {locale}/{name:<14} {:<5} {} segment(s), {} units",
                            program.id.as_str(),
                            count.encoding,
                            count.segments,
                            count.units
                        );
                        if count.segments > max {
                            problems.push(format!(
                                "{locale}/{name} for program {:?} can take {} segments (sms.max_segments = {max})",
                                program.id.as_str(), count.segments
                            ));
                        }
                    }
                    Err(e) => problems.push(format!("{locale}/{name}: {e:#}")),
                }
            }
        }
    }
    // The automations' own bodies (the shipped templates were rendered above).
    if let Err(e) = templates.validate(&settings.programs) {
        problems.push(format!("{e:#}"));
    }
    if problems.is_empty() {
        println!("all templates ok");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("template problem: {p}");
        }
        anyhow::bail!("{} template problem(s)", problems.len())
    }
}

/// Sample values at their longest plausible size, so `check` reports worst-case segments.
fn worst_case_context(program: &crate::domain::Program) -> serde_json::Value {
    let mut context = Templates::sample_context(program);
    if let Some(map) = context.as_object_mut() {
        map.insert("balance".into(), 9_999_999.into());
        map.insert("points".into(), 99_999.into());
        map.insert("points_to_next_reward".into(), 99_999.into());
        map.insert("first_name".into(), "Maximilian".into());
    }
    context
}

async fn text(args: TextArgs) -> anyhow::Result<()> {
    let settings = load(&args.config)?;
    let token = settings.sms.twilio.auth_token.expose_secret().to_owned();
    anyhow::ensure!(
        !token.is_empty(),
        "sms.twilio.auth_token is empty: the gateway's Twilio webhook is off, so there is nothing to sign for"
    );
    let program = match &args.to {
        Some(to) => {
            let to = crate::domain::PhoneNumber::parse_e164(to)
                .map_err(|e| anyhow::anyhow!("--to: {e}"))?;
            settings
                .programs
                .iter()
                .find(|p| p.numbers.contains(&to))
                .with_context(|| format!("--to {to} is not a number of any configured program"))?
        }
        None => &settings.programs[0],
    };
    let to = match &args.to {
        Some(to) => to.clone(),
        None => program
            .sending_number()
            .context("the program has no numbers; pass --to")?
            .to_string(),
    };
    let from = crate::domain::PhoneNumber::parse(&args.from, program.region)
        .map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let body = args.body.join(" ");
    let mut sid = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut sid);
    let sid = format!("SM{}", hex::encode(sid));
    let params: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("SmsSid", sid.as_str()),
        ("AccountSid", settings.sms.twilio.account_sid.as_str()),
        ("From", from.as_str()),
        ("To", to.as_str()),
        ("Body", body.as_str()),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let public = settings.server.public_url.trim_end_matches('/');
    let signed_url = format!("{public}/webhooks/twilio");
    let signature = crate::inbound::signature::twilio_signature(&token, &signed_url, &params);
    let target = match &args.url {
        Some(url) => format!("{}/webhooks/twilio", url.trim_end_matches('/')),
        None => signed_url.clone(),
    };
    let response = reqwest::Client::new()
        .post(&target)
        .header("X-Twilio-Signature", signature)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(crate::outbound::providers::form_body(&params))
        .send()
        .await
        .with_context(|| format!("cannot reach the gateway at {target}; is `serve` running?"))?;
    let status = response.status();
    anyhow::ensure!(
        status.is_success(),
        "the gateway answered {status}: {}",
        response.text().await.unwrap_or_default()
    );
    println!(
        "{from} -> {to}: {body:?} delivered as {sid} (replies appear in the gateway's output)"
    );
    Ok(())
}

fn new_key(args: NewKey) -> anyhow::Result<()> {
    // Validate against the configuration when one can be loaded.
    if let Ok(settings) = configuration::load(args.config.config.as_deref()) {
        let program = settings
            .programs
            .iter()
            .find(|p| p.id.as_str() == args.program)
            .with_context(|| format!("--program {:?} is not a configured program", args.program))?;
        for l in &args.locations {
            let known = program.locations.iter().any(|x| x.id.as_str() == l);
            anyhow::ensure!(
                known,
                "--location {l:?} is not a location of program {:?}",
                args.program
            );
        }
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = format!(
        "lg_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let sha = hex::encode(Sha256::digest(key.as_bytes()));
    let name = args
        .name
        .unwrap_or_else(|| format!("{}-{}", args.program, args.scopes.join("-")));
    let quote = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("API key (shown once; store it in the POS, not in the config):\n\n  {key}\n");
    println!("Add this to the configuration:\n");
    println!("[[api_keys]]");
    println!("name = {name:?}");
    println!("sha256 = \"{sha}\"");
    println!("program = {:?}", args.program);
    println!("scopes = [{}]", quote(&args.scopes));
    if !args.locations.is_empty() {
        println!("locations = [{}]", quote(&args.locations));
    }
    Ok(())
}

fn dashboard_user(args: NewDashboardUser) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD_CHARS,
        "the password must be at least {MIN_PASSWORD_CHARS} characters (give it on standard input: \
         `printf '%s' \"$PASSWORD\" | loyalty-gateway keys dashboard-user ...`)"
    );
    let hash = crate::auth::hash_password(password)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    println!("Add this to the configuration:\n");
    println!("[[dashboard_users]]");
    println!("name = {:?}", args.name);
    println!("program = {:?}", args.program);
    println!("scope = {:?}", args.scope);
    println!("password_hash = {hash:?}");
    Ok(())
}

/// The services on the program's Redis (the one a `serve` started for itself, when no other
/// answers), and the program named (or the only one).
async fn program_services(
    config: &ConfigArg,
    program: Option<&str>,
) -> anyhow::Result<(
    crate::routes::AppState,
    std::sync::Arc<crate::domain::Program>,
)> {
    let state = services_on_redis(config).await?;
    let program = pick_program(&state, program)?;
    Ok((state, program))
}

/// The services on the configuration's Redis (or the one a `serve` started for itself).
async fn services_on_redis(config: &ConfigArg) -> anyhow::Result<crate::routes::AppState> {
    let mut settings = load(config)?;
    if !settings.redis.is_cluster() {
        let url = settings.redis.url.expose_secret().to_owned();
        if !embedded::answers(&url, settings.redis.timeout()).await {
            let running = settings
                .redis
                .embedded
                .then(|| Embedded::running(&settings.redis.data_dir))
                .flatten();
            match running {
                Some(url) => settings.redis.url = SecretString::from(url),
                None => anyhow::bail!(
                    "no Redis answers at {}: start the gateway (`loyalty-gateway serve`) or set \
                     redis.url (LOYALTY__REDIS__URL)",
                    redacted_url(&url)
                ),
            }
        }
    }
    crate::startup::services(settings, crate::clock::Clock::default())
}

/// The program named, or the only one configured.
fn pick_program(
    state: &crate::routes::AppState,
    program: Option<&str>,
) -> anyhow::Result<std::sync::Arc<crate::domain::Program>> {
    let known = || {
        state
            .programs
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let program = match program {
        Some(id) => state
            .programs
            .iter()
            .find(|p| p.id.as_str() == id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no program {id:?}; configured: {}", known()))?,
        None => {
            let mut all = state.programs.iter();
            match (all.next(), all.next()) {
                (Some(only), None) => only.clone(),
                _ => anyhow::bail!("several programs: pick one with --program ({})", known()),
            }
        }
    };
    Ok(program)
}

/// `campaigns list|show|preview|send`: straight on the program's Redis, through the same
/// service the API uses, so the answers are the API's.
async fn campaigns(args: CampaignsArgs) -> anyhow::Result<()> {
    let (state, program) = program_services(&args.config, args.program.as_deref()).await?;
    let campaigns = &state.campaigns;
    match args.command {
        CampaignsCommand::List => {
            println!(
                "{:<8} {:<10} {:>10} {:>8} {:>10} {:>8}  name",
                "id", "status", "recipients", "sent", "delivered", "failed"
            );
            let mut before = None;
            loop {
                let page = campaigns
                    .list(&program, LIST_LIMIT, before.as_deref())
                    .await?;
                if before.is_none() && page.campaigns.is_empty() {
                    println!("no campaigns in {}", program.id.as_str());
                }
                for c in &page.campaigns {
                    println!(
                        "{:<8} {:<10} {:>10} {:>8} {:>10} {:>8}  {}",
                        c.id, c.status, c.recipients, c.sent, c.delivered, c.failed, c.name
                    );
                }
                match page.campaigns.last() {
                    Some(last) if page.more => before = Some(last.id.clone()),
                    _ => break,
                }
            }
        }
        CampaignsCommand::Show { id } => {
            let campaign = campaigns
                .get(&program, &id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no campaign {id:?} in {}", program.id.as_str()))?;
            println!("{}", pretty(&campaign));
        }
        CampaignsCommand::Preview { id } => {
            let preview = campaigns.preview(&program, &id).await?;
            println!("{}", pretty(&preview));
        }
        CampaignsCommand::Send { id } => {
            let campaign = campaigns.start(&program, &id, None).await?;
            println!(
                "{} is {}: a running `serve` queues its texts and sends them",
                campaign.id, campaign.status
            );
        }
    }
    Ok(())
}

/// `import`: every row checked, the good ones written in batches; a summary with each rejected
/// line and why. Fails when every row was rejected.
async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let (state, program) = program_services(&args.config, args.program.as_deref()).await?;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(size).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta} left",
        )
        .expect("a valid template"),
    );
    let defaults = crate::import::Columns::default();
    let columns = crate::import::Columns {
        phone: args.phone_column,
        first_name: args.name_column,
        locale: args.locale_column,
        consent: args.consent_column,
        balance: args.balance_column,
    };
    let mut explicit = Vec::new();
    for (flag, given, default) in [
        ("--name-column", &columns.first_name, &defaults.first_name),
        ("--locale-column", &columns.locale, &defaults.locale),
        ("--consent-column", &columns.consent, &defaults.consent),
        ("--balance-column", &columns.balance, &defaults.balance),
    ] {
        if given != default {
            explicit.push(flag);
        }
    }
    let options = crate::import::Options {
        dry_run: args.dry_run,
        request_consent: args.request_consent,
        explicit,
    };
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let summary = crate::import::import(
        &state.store,
        &state.settings.redis.key_prefix,
        &state.clock,
        &program,
        &state.programs,
        std::io::BufReader::new(file),
        &name,
        &columns,
        &options,
        state.settings.ledger.message_retention_days * 86_400,
        |bytes| bar.set_position(bytes),
    )
    .await?;
    bar.finish_and_clear();
    let done = &summary.imported;
    let verb = if args.dry_run {
        "would import"
    } else {
        "imported"
    };
    println!(
        "{} rows in {:.1} s: {verb} {} ({} active, {} pending, {} suppressed: erased before), \
         {} already members (left as they were), {} rejected",
        summary.rows,
        started.elapsed().as_secs_f64(),
        done.created,
        done.active,
        done.pending,
        done.suppressed,
        done.existing,
        summary.rejected.len()
    );
    if args.dry_run {
        println!("dry run: nothing was written");
    }
    for (line, reason) in &summary.rejected {
        println!("line {line}: {reason}");
    }
    if summary.every_row_rejected() {
        anyhow::bail!("every row was rejected: nothing imported");
    }
    Ok(())
}

/// `export members|history`: to a file or standard output; the count goes to standard error.
async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let (state, program) = program_services(&args.config, args.program.as_deref()).await?;
    let out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let prefix = &state.settings.redis.key_prefix;
    let exported = match args.what {
        ExportWhat::Members => crate::export::members(&state.store, prefix, &program, out).await?,
        ExportWhat::History => crate::export::history(&state.store, prefix, &program, out).await?,
    };
    match args.what {
        ExportWhat::Members => eprintln!("members exported: {}", exported.members),
        ExportWhat::History => eprintln!(
            "history entries exported: {} (of {} members)",
            exported.entries, exported.members
        ),
    }
    Ok(())
}

/// `verify`: every program (or the one named), each discrepancy on its own line.
async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let state = services_on_redis(&args.config).await?;
    let programs: Vec<_> = match &args.program {
        Some(id) => vec![pick_program(&state, Some(id))?],
        None => state.programs.iter().cloned().collect(),
    };
    let mut problems = 0;
    for program in programs {
        let report =
            crate::verify::verify(&state.store, &state.settings.redis.key_prefix, &program).await?;
        println!(
            "{}: {} members, {} history entries, {} discrepancies",
            program.id.as_str(),
            report.members,
            report.entries,
            report.discrepancies.len()
        );
        for d in &report.discrepancies {
            println!("  {d}");
        }
        problems += report.discrepancies.len();
    }
    if problems > 0 {
        anyhow::bail!("{problems} discrepancies");
    }
    Ok(())
}

/// 32 random bytes as a Standard Webhooks secret; the receiver verifies with the same string.
fn webhook_secret() {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    println!("{secret}\n");
    println!("# Give the receiver the same secret; it verifies webhook-signature with it.");
    println!("[[webhooks]]\nurl = \"https://crm.example/hooks/loyalty\"\nsecret = \"{secret}\"");
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("plain data serialises")
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn logged_redis_urls_carry_no_credentials() {
        assert_eq!(
            redacted_url("redis://user:s3cret@10.0.0.5:6379/0"),
            "redis://***:***@10.0.0.5:6379/0"
        );
        assert_eq!(
            redacted_url("redis://:s3cret@redis:6379/0"),
            "redis://:***@redis:6379/0"
        );
        assert_eq!(
            redacted_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }
}
