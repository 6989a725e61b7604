//! `spawn_app()`: the gateway in-process against a real Redis, with Twilio played by wiremock.

use std::sync::OnceLock;

use loyalty_gateway::clock::Clock;
use loyalty_gateway::configuration::{self, Settings};
use loyalty_gateway::embedded::RedisServer;
use loyalty_gateway::outbound::{self, Sender};
use loyalty_gateway::routes::AppState;
use loyalty_gateway::startup::{self, Application};
use reqwest::Response;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const POS_KEY: &str = "test-pos-key";
pub const DOWNTOWN_KEY: &str = "test-pos-downtown-key";
pub const MARKETING_KEY: &str = "test-marketing-key";
pub const ADMIN_KEY: &str = "test-admin-key";
pub const OTHER_PROGRAM_KEY: &str = "test-other-program-key";
pub const BAKERY_KEY: &str = "test-bakery-admin-key";
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "test-auth-token";
pub const SENDER: &str = "+15005550006";
pub const TWILIO_PATH: &str =
    "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

fn sha(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The tests' Redis: `TEST_REDIS_URL`, or one `redis-server` per test process started on a
/// thread that lives as long as the process (the server dies with it).
pub fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("TEST_REDIS_URL") {
            return url;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let dir = tempfile::tempdir().expect("temp dir");
            let server =
                RedisServer::start(dir.path(), false).expect("start redis-server for tests");
            tx.send(server.url()).expect("send url");
            let _keep = (server, dir);
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("redis url")
    })
    .clone()
}

pub fn unique_prefix() -> String {
    use rand::Rng;
    format!("test-{:016x}", rand::thread_rng().gen::<u64>())
}

/// The configuration every test starts from: three programs (`bloom`, `other`, `bakery`: on a
/// three-master cluster their hash tags land on three different masters), keys of every scope.
pub fn config_toml(redis_url: &str, prefix: &str, twilio_url: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
public_url = "http://gateway.test"

[redis]
url = "{redis_url}"
key_prefix = "{prefix}"
timeout_ms = 1000

[sms]
provider = "twilio"
messages_per_second = 1000.0
burst = 100
http_timeout_ms = 2000
visibility_timeout_ms = 5000
retry_schedule_secs = [5, 30, 120]

[sms.twilio]
base_url = "{twilio_url}"
account_sid = "{ACCOUNT_SID}"
auth_token = "{AUTH_TOKEN}"

[[programs]]
id = "bloom"
name = "Bloom Rewards"
numbers = ["{SENDER}"]
country = "US"
timezone = "America/New_York"
locale = "en"
help_contact = "bloom.example/help"
join_keywords = ["JOIN", "BLOOM"]
welcome_points = 50
points_per_unit = 1

[[programs.tenders]]
name = "store_card"
multiplier = 2

[[programs.tiers]]
name = "member"
min_lifetime_points = 0
multiplier = 1

[[programs.tiers]]
name = "gold"
min_lifetime_points = 10000
multiplier = 1.25

[[programs.rewards]]
id = "r5"
points = 1000
description = "$5 off"

[[programs.rewards]]
id = "r25"
points = 5000
description = "$25 reward card"
auto_issue = true
valid_days = 90

[[programs.locations]]
id = "store-12"
name = "Downtown"

[[programs.locations]]
id = "store-7"
name = "Riverside"

[[programs]]
id = "other"
name = "Other Shop"
numbers = ["+15005550007"]
country = "GB"
timezone = "Europe/London"

[[programs.rewards]]
id = "r1"
points = 10
auto_issue = true

[[programs.locations]]
id = "shop"

[[programs]]
id = "bakery"
name = "Corner Bakery"
numbers = ["+15005550008"]
welcome_points = 10

[[programs.rewards]]
id = "loaf"
points = 20
auto_issue = true

[[programs.locations]]
id = "oven"

[[api_keys]]
name = "pos"
sha256 = "{pos}"
program = "bloom"
scopes = ["pos"]

[[api_keys]]
name = "pos-downtown"
sha256 = "{downtown}"
program = "bloom"
scopes = ["pos"]
locations = ["store-12"]

[[api_keys]]
name = "marketing"
sha256 = "{marketing}"
program = "bloom"
scopes = ["marketing"]

[[api_keys]]
name = "admin"
sha256 = "{admin}"
program = "bloom"
scopes = ["admin"]

[[api_keys]]
name = "other-pos"
sha256 = "{other}"
program = "other"
scopes = ["pos"]

[[api_keys]]
name = "bakery-admin"
sha256 = "{bakery}"
program = "bakery"
scopes = ["admin"]
"#,
        pos = sha(POS_KEY),
        downtown = sha(DOWNTOWN_KEY),
        marketing = sha(MARKETING_KEY),
        admin = sha(ADMIN_KEY),
        other = sha(OTHER_PROGRAM_KEY),
        bakery = sha(BAKERY_KEY),
    )
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub prefix: String,
    pub redis_url: String,
    pub twilio: MockServer,
    pub clock: Clock,
    pub state: actix_web::web::Data<AppState>,
    sender: Sender,
}

/// Posts an earn at store-12 to the gateway at `base` with the POS key: for a gateway that runs
/// as a process of its own (`serve`), which a [`TestApp`] does not.
pub async fn post_earn_to(
    base: &str,
    phone: &str,
    amount: i64,
    receipt: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/v1/earn"))
        .bearer_auth(POS_KEY)
        .json(&serde_json::json!({ "phone": phone, "amount": amount,
            "location": "store-12", "receipt": receipt }))
        .send()
        .await
        .unwrap()
}

/// Moves the app's clock on to the next 20:00 UTC: noon in California (13:00 in summer), inside
/// the marketing window of the test numbers (area code 415), so that a test sending marketing
/// texts does not depend on the hour it runs at. Call it before the test does anything.
pub fn in_californian_daytime(app: &TestApp) {
    let now = app.clock.now();
    let mut noon = now.date_naive().and_hms_opt(20, 0, 0).unwrap().and_utc();
    if noon < now {
        noon += chrono::Duration::days(1);
    }
    app.clock.set(noon);
}

/// Moves the app's clock to tomorrow at `hour`:00 UTC (20: noon in California, inside the
/// test numbers' marketing window; 12: far from either midnight, so no step of a test's day
/// crosses one), and answers that day.
pub fn tomorrow_at(app: &TestApp, hour: u32) -> chrono::NaiveDate {
    let day = (app.clock.now() + chrono::Duration::days(1)).date_naive();
    app.clock
        .set(day.and_hms_opt(hour, 0, 0).unwrap().and_utc());
    day
}

/// The test configuration's `bloom` with `extra` TOML added to it (its own `[programs.*]`
/// tables: referral, automations, expiry...).
pub fn bloom_with(extra: &str) -> loyalty_gateway::domain::Program {
    let toml = config_toml("redis://127.0.0.1:6379/0", "p", "http://127.0.0.1:9").replacen(
        "points_per_unit = 1\n",
        &format!("points_per_unit = 1\n{extra}"),
        1,
    );
    configuration::parse_str(&toml)
        .expect("a valid program")
        .programs
        .remove(0)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app after `adjust` has had a go at the settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(&redis_url(), adjust).await
}

pub async fn spawn_app_on(redis_url: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_process(redis_url, &unique_prefix(), adjust).await
}

/// A second gateway process on the same Redis and key prefix as `app` (a second `serve`).
pub async fn spawn_second_process(app: &TestApp, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_process(&app.redis_url, &app.prefix, adjust).await
}

async fn spawn_process(
    redis_url: &str,
    prefix: &str,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        static LOG_WRITER: std::sync::OnceLock<loyalty_gateway::telemetry::writer::FlushGuard> =
            std::sync::OnceLock::new();
        LOG_WRITER.get_or_init(|| loyalty_gateway::telemetry::init(&Default::default()));
    }
    let twilio = MockServer::start().await;
    let prefix = prefix.to_owned();
    let mut settings = configuration::parse_str(&config_toml(redis_url, &prefix, &twilio.uri()))
        .expect("test configuration is valid");
    adjust(&mut settings);
    let clock = Clock::default();
    let app = Application::build_with_clock(settings, clock.clone())
        .await
        .expect("build app")
        .without_workers();
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let sender = startup::sender(&state).expect("sender");
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        prefix,
        redis_url: redis_url.to_owned(),
        twilio,
        clock,
        state,
        sender,
    }
}

/// A sid for mocks that accept one message.
pub const ACCEPTED_SID: &str = "SM00000000000000000000000000000001";

/// A mock of Twilio's Messages.json (add matchers, a reply, then mount it).
pub fn twilio_send() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path(TWILIO_PATH))
}

/// Twilio's reply to an accepted message.
pub fn twilio_created(sid: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "sid": sid, "status": "queued", "num_segments": "1", "error_code": null
    }))
}

/// Twilio's error reply (`{"code", "message", "status"}`).
pub fn twilio_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code, "message": message, "status": status,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}")
    }))
}

/// Twilio's answer to every send: accepted, with a message sid of its own, as Twilio does.
pub struct AcceptsWithFreshSids(std::sync::atomic::AtomicU64);

impl wiremock::Respond for AcceptsWithFreshSids {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        twilio_created(&format!("SM{:032x}", n + 1))
    }
}

/// A Twilio that accepts every message, each with its own sid.
pub async fn twilio_accepts_everything(app: &TestApp) {
    twilio_send()
        .respond_with(AcceptsWithFreshSids(std::sync::atomic::AtomicU64::new(0)))
        .mount(&app.twilio)
        .await;
}

/// Form parameters as owned pairs.
pub fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request")
    }

    pub async fn earn(&self, body: Value) -> Response {
        self.post("/v1/earn", POS_KEY, &body).await
    }

    /// Earns and asserts success, returning the body.
    pub async fn earn_ok(&self, phone: &str, amount: i64, receipt: &str) -> Value {
        let response = self
            .earn(json!({ "phone": phone, "amount": amount, "location": "store-12", "receipt": receipt }))
            .await;
        assert_eq!(
            response.status(),
            200,
            "earn failed: {:?}",
            response.text().await
        );
        response.json().await.unwrap()
    }

    pub async fn redeem(&self, body: Value) -> Response {
        self.post("/v1/redeem", POS_KEY, &body).await
    }

    pub async fn reverse(&self, body: Value) -> Response {
        self.post("/v1/reverse", POS_KEY, &body).await
    }

    pub async fn member(&self, phone: &str) -> Response {
        self.get(&format!("/v1/members/{}", urlencode(phone)), POS_KEY)
            .await
    }

    pub async fn member_json(&self, phone: &str) -> Value {
        let response = self.member(phone).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `GET /v1/members/{phone}/consent` as an admin, parsed.
    pub async fn consent_json(&self, phone: &str) -> Value {
        let response = self
            .get(
                &format!("/v1/members/{}/consent", urlencode(phone)),
                ADMIN_KEY,
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `verify` over bloom finds nothing.
    pub async fn verify_is_clean(&self) {
        let report =
            loyalty_gateway::verify::verify(&self.state.store, &self.prefix, &self.bloom())
                .await
                .unwrap();
        assert!(
            report.discrepancies.is_empty(),
            "{:#?}",
            report.discrepancies
        );
    }

    pub async fn history(&self, phone: &str) -> Vec<Value> {
        let response = self
            .get(
                &format!("/v1/members/{}/history", urlencode(phone)),
                POS_KEY,
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub fn bloom(&self) -> std::sync::Arc<loyalty_gateway::domain::Program> {
        self.state
            .programs
            .iter()
            .find(|p| p.id.as_str() == "bloom")
            .unwrap()
            .clone()
    }

    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Sends everything queued for `bloom` now, as the worker would; returns how many entries.
    pub async fn drain_outbox(&self) -> usize {
        outbound::drain(
            &self.state.store,
            &self.state.outbox,
            &self.sender,
            &self.bloom(),
        )
        .await
        .expect("drain outbox")
    }

    /// A stored message record.
    pub async fn message(&self, id: &str) -> std::collections::HashMap<String, String> {
        self.state
            .outbox
            .message(&self.bloom(), id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no message {id}"))
    }

    /// The texts Twilio received, as (To, Body), oldest first.
    pub async fn sent_texts(&self) -> Vec<(String, String)> {
        self.twilio
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == TWILIO_PATH)
            .map(|r| {
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(&r.body).into_owned().collect();
                (form["To"].clone(), form["Body"].clone())
            })
            .collect()
    }

    /// A connection to this test's Redis, to read what the gateway wrote.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Every key this test's app wrote.
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = self.redis().await;
        redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Asserts a problem+json response and returns its body.
pub async fn assert_problem(response: Response, status: u16, type_suffix: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    let kind = body["type"].as_str().unwrap_or_default();
    assert!(
        kind.ends_with(type_suffix),
        "type {kind:?} should end with {type_suffix:?}"
    );
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

/// A fresh Twilio-style message sid.
pub fn new_sid() -> String {
    use rand::Rng;
    format!("SM{:032x}", rand::thread_rng().gen::<u128>())
}

impl TestApp {
    /// Posts a correctly signed Twilio inbound webhook.
    pub async fn text_with_sid(&self, from: &str, body: &str, sid: &str) -> Response {
        let params = form(&[
            ("MessageSid", sid),
            ("SmsSid", sid),
            ("AccountSid", ACCOUNT_SID),
            ("From", from),
            ("To", SENDER),
            ("Body", body),
            ("NumMedia", "0"),
            ("FromCountry", "US"),
            ("ApiVersion", "2010-04-01"),
        ]);
        self.post_twilio_form("/webhooks/twilio", &params).await
    }

    pub async fn text(&self, from: &str, body: &str) -> Response {
        let response = self.text_with_sid(from, body, &new_sid()).await;
        assert_eq!(response.status(), 200, "inbound text refused");
        response
    }

    /// Posts `params` signed for `http://gateway.test{path}` (the test `server.public_url`).
    pub async fn post_twilio_form(&self, path: &str, params: &[(String, String)]) -> Response {
        let signature = loyalty_gateway::inbound::signature::twilio_signature(
            AUTH_TOKEN,
            &format!("http://gateway.test{path}"),
            params,
        );
        let body = loyalty_gateway::outbound::providers::form_body(params);
        self.client
            .post(self.url(path))
            .header("X-Twilio-Signature", signature)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// A signed Twilio status callback for the message Twilio knows as `sid`.
    pub async fn status_callback(&self, sid: &str, status: &str) -> Response {
        let params = form(&[
            ("MessageSid", sid),
            ("MessageStatus", status),
            ("From", SENDER),
            ("AccountSid", ACCOUNT_SID),
        ]);
        self.post_twilio_form("/webhooks/twilio/status", &params)
            .await
    }

    /// Texts sent to `phone`, in order.
    pub async fn texts_to(&self, phone: &str) -> Vec<String> {
        self.sent_texts()
            .await
            .into_iter()
            .filter(|(to, _)| to == phone)
            .map(|(_, body)| body)
            .collect()
    }

    /// Delivers the outbox, then returns the texts `phone` has received so far.
    pub async fn deliver_to(&self, phone: &str) -> Vec<String> {
        self.drain_outbox().await;
        self.texts_to(phone).await
    }
}

impl TestApp {
    /// Runs the campaign scheduler's work for `bloom` now, as `serve` does every quarter second.
    pub async fn drain_campaigns(&self) -> usize {
        let program = self.bloom();
        self.state
            .campaigns
            .start_due(&program)
            .await
            .expect("start due campaigns");
        self.state
            .campaigns
            .run_active(&program, 100_000)
            .await
            .expect("campaign steps")
    }
}

/// The value of the sample `name` whose labels include `labels`, from a Prometheus text
/// exposition.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let found: Vec<(&str, &str)> = rest
                .split(',')
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    Some((k, v.trim_matches('"')))
                })
                .collect();
            labels
                .iter()
                .all(|wanted| found.contains(wanted))
                .then(|| value.parse().ok())?
        })
}

pub async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}
