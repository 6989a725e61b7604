//! The web pages in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`; `.ci/run` installs them), through the `fantoccini` crate.
//! Each test starts its own chromedriver. On every page, axe-core (vendored from npm,
//! `tests/browser/`) must find no serious or critical accessibility violation. The tests write
//! screenshots to `target/screenshots/`; with `UPDATE_SCREENSHOTS=1`, to `docs/screenshots/`,
//! which the README shows.

use std::process::Stdio;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::outage::eventually;

const AXE: &str = include_str!("../browser/axe.min.js");
const PHONE: &str = "+14155552671";

/// A chromedriver process and a headless Chromium session on it. Dropped (at the end of a test,
/// or when it fails), both go, and every Chromium process of the session with them: Chromium's
/// processes outlive a killed chromedriver, so they are found by their own profile folder.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    profile: std::path::PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .arg("-KILL")
            .arg("-f")
            .arg(self.profile.as_os_str())
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian: apt-get install chromium chromium-driver)");
        let address = format!("127.0.0.1:{port}");
        assert!(
            eventually(|| async { tokio::net::TcpStream::connect(&address).await.is_ok() }).await,
            "chromedriver did not start"
        );
        let profile =
            std::env::temp_dir().join(format!("loyalty-browser-test-{}", rand::random::<u64>()));
        let mut options = json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--window-size=1280,1000", "--force-device-scale-factor=1",
            format!("--user-data-dir={}", profile.display())] });
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = "/usr/bin/chromium".into();
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        // chromedriver is local: plain HTTP, no TLS stack.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://{address}"))
            .await
            .expect("a Chromium session");
        Self {
            client,
            _driver: driver,
            profile,
        }
    }

    /// Runs axe-core on the page; fails on any serious or critical violation.
    async fn check_accessibility(&self, page: &str) {
        self.client.execute(AXE, vec![]).await.unwrap();
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ': ' + v.help + ' at ' +
                       v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe did not run: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(found, json!([]), "axe-core on {page}");
    }

    async fn screenshot(&self, name: &str) -> Vec<u8> {
        let png = self.client.screenshot().await.unwrap();
        // The README's copies are refreshed on purpose only (their dates change every run).
        let folder = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            "docs/screenshots"
        } else {
            "target/screenshots"
        };
        let folder = format!("{}/{folder}", env!("CARGO_MANIFEST_DIR"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(format!("{folder}/{name}.png"), &png).unwrap();
        png
    }

    /// Waits until the first element matching `css` reads `expected` (a click that navigates
    /// returns before the next page has replaced this one); fails with what it read.
    async fn see(&self, css: &str, expected: &str) {
        let seen = eventually(|| async { self.read(css).await == expected }).await;
        assert!(
            seen,
            "{css} reads {:?}, not {expected:?}",
            self.read(css).await
        );
    }

    async fn click(&self, locator: Locator<'_>) {
        self.client
            .find(locator)
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn type_into(&self, id: &str, text: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn read(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

/// The QR codes a screenshot shows, decoded (rqrr, apart from the encoder).
pub fn codes_in(png: &[u8]) -> Vec<String> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buffer).unwrap();
    let channels = frame.color_type.samples();
    let (width, height) = (frame.width as usize, frame.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        let i = (y * width + x) * channels;
        let p = &buffer[i..i + channels.min(3)];
        (p.iter().map(|&c| u32::from(c)).sum::<u32>() / p.len() as u32) as u8
    });
    image
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

#[tokio::test]
async fn a_marketer_signs_in_and_reads_the_overview_in_a_browser() {
    let app = spawn_app().await;
    app.text(PHONE, "JOIN").await;
    for (i, location) in ["store-12", "store-7", "store-12"].iter().enumerate() {
        app.clock.advance(chrono::Duration::days(1));
        let earn = json!({ "phone": PHONE, "amount": 2500 + i * 1000, "location": location,
            "receipt": format!("R-{i}") });
        assert_eq!(app.earn(earn).await.status(), 200);
    }
    app.earn_ok("+14155550102", 1800, "R-9").await;
    let browser = Browser::start().await;
    let client = &browser.client;

    client.goto(&app.url("/dashboard")).await.unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/dashboard/sign-in"
    );
    browser.check_accessibility("sign-in").await;
    browser.screenshot("dashboard-sign-in").await;
    browser.type_into("key", MARKETING_KEY).await;
    browser.click(Locator::Css("#sign-in-key button")).await;
    browser.see("h1", "Overview").await;
    browser.see("#visits", "4").await;
    browser.see("#members", "2").await;
    browser.check_accessibility("overview").await;
    browser.screenshot("dashboard-overview").await;

    // The location filter, chosen as a person would.
    browser
        .click(Locator::Css("#location option[value=store-7]"))
        .await;
    browser.click(Locator::Css(".filters button")).await;
    assert!(
        eventually(|| async {
            let url = client.current_url().await.unwrap();
            url.query().is_some_and(|q| q.contains("location=store-7"))
        })
        .await
    );
    browser.see("#visits", "1").await;
    browser.click(Locator::LinkText("Members")).await;
    browser.type_into("phone", "(415) 555-2671").await;
    browser
        .click(Locator::Css("main button[type=submit]"))
        .await;
    browser.see("h1", PHONE).await;
    assert_eq!(
        browser.read("#balance").await,
        app.member_json(PHONE).await["balance"].to_string()
    );
    browser.check_accessibility("a member").await;
    browser.screenshot("dashboard-member").await;
    for (link, heading) in [
        ("Automations", "Automations"),
        ("Locations", "Locations"),
        ("Operations", "Operations"),
    ] {
        browser.click(Locator::LinkText(link)).await;
        browser.see("h1", heading).await;
        browser.check_accessibility(heading).await;
        browser
            .screenshot(&format!("dashboard-{}", heading.to_lowercase()))
            .await;
    }

    browser.click(Locator::Css("header button")).await;
    browser.see("h2", "Sign in").await;
    client.goto(&app.url("/dashboard")).await.unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/dashboard/sign-in"
    );
}

#[tokio::test]
async fn a_customer_joins_on_the_join_page_in_a_browser_and_gets_the_yes_request() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    let browser = Browser::start().await;
    let client = &browser.client;
    client.goto(&app.url("/join/bloom?lang=ar")).await.unwrap();
    browser.check_accessibility("join (ar)").await;
    client.goto(&app.url("/join/bloom")).await.unwrap();
    browser.check_accessibility("join").await;
    browser.screenshot("join").await;
    browser.type_into("phone", "(415) 555-2671").await;
    browser.type_into("first_name", "Zoë").await;
    app.clock.advance(chrono::Duration::seconds(8));
    browser.click(Locator::Css("button[type=submit]")).await;
    browser.see("h1", "Check your phone").await;
    browser.check_accessibility("join, sent").await;
    let member: Value = app.member_json(PHONE).await;
    assert_eq!(member["status"], "pending");
    assert_eq!(member["first_name"], "Zoë");
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains("Reply YES"), "{texts:?}");
}

#[tokio::test]
async fn a_printed_poster_shows_codes_that_open_the_right_text_and_page() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    let client = &browser.client;
    client
        .goto(&app.url("/join/bloom/poster?location=store-12"))
        .await
        .unwrap();
    assert_eq!(browser.read(".call").await, "Text JOIN to +1 500-555-0006");
    browser.check_accessibility("poster").await;
    browser.screenshot("poster").await;
    let mut codes = Vec::new();
    for figure in client.find_all(Locator::Css("figure.code")).await.unwrap() {
        let element = serde_json::to_value(&figure).unwrap();
        client
            .execute(
                "arguments[0].scrollIntoView({ block: 'center' })",
                vec![element],
            )
            .await
            .unwrap();
        codes.extend(codes_in(&figure.screenshot().await.unwrap()));
    }
    assert_eq!(
        codes,
        [
            format!("sms:{SENDER}?body=JOIN"),
            "http://gateway.test/join/bloom".to_owned()
        ]
    );
}

#[tokio::test]
async fn an_admin_user_signs_in_with_a_password_and_their_member_page_passes_axe_core() {
    let vectors: Value =
        serde_json::from_str(include_str!("../fixtures/argon2/vectors.json")).unwrap();
    let vector = &vectors["vectors"][1];
    let (hash, password) = (
        vector["hash"].as_str().unwrap().to_owned(),
        vector["password"].as_str().unwrap().to_owned(),
    );
    let app = spawn_app_with(move |s| {
        s.dashboard_users
            .push(std::sync::Arc::new(loyalty_gateway::auth::DashboardUser {
                name: "owner".into(),
                program: s.programs[0].id.clone(),
                scope: loyalty_gateway::auth::Scope::Admin,
                password_hash: hash.clone(),
            }));
    })
    .await;
    app.earn_ok(PHONE, 2500, "R-1").await;
    let browser = Browser::start().await;
    let client = &browser.client;
    client.goto(&app.url("/dashboard/sign-in")).await.unwrap();
    browser.type_into("user", "owner").await;
    browser.type_into("password", &password).await;
    browser
        .click(Locator::Css("#sign-in-password button"))
        .await;
    browser.see("h1", "Overview").await;
    browser.see(".who", "Signed in as owner").await;
    client
        .goto(&app.url("/dashboard/members/%2B14155552671"))
        .await
        .unwrap();
    browser.see("h1", PHONE).await;
    browser.check_accessibility("a member, as an admin").await;
    // Erasing without ticking the box: the browser itself refuses (the box is required).
    browser
        .click(Locator::Css("form[action$=erase] button"))
        .await;
    let url = client.current_url().await.unwrap();
    assert_eq!(url.query(), None, "not sent: {url}");
    assert_eq!(app.member(PHONE).await.status(), 200);
}

#[tokio::test]
async fn a_marketer_writes_a_campaign_watches_its_preview_change_sends_it_and_sees_it_go_out() {
    let app = spawn_app().await;
    in_californian_daytime(&app);
    twilio_accepts_everything(&app).await;
    crate::dashboard::three_named_members(&app, "+1415555060").await;
    let browser = Browser::start().await;
    let client = &browser.client;
    client.goto(&app.url("/dashboard")).await.unwrap();
    browser.type_into("key", MARKETING_KEY).await;
    browser.click(Locator::Css("#sign-in-key button")).await;
    browser.see("h1", "Overview").await;
    browser.click(Locator::LinkText("Campaigns")).await;
    browser.see("h1", "Campaigns").await;
    browser.click(Locator::Id("new-campaign")).await;
    browser.see("h1", "New campaign").await;

    // The preview follows what is typed, without a reload (htmx).
    browser.type_into("name", "Weekend").await;
    browser
        .type_into("body", "Hi {{ first_name }}, double points!")
        .await;
    browser.see("#preview-recipients", "3").await;
    browser.see("#preview-encoding", "GSM-7").await;
    browser.see("#preview-segments", "1").await;
    browser
        .see(
            "#preview-samples li",
            "Hi Ana, double points! Reply STOP to opt out.",
        )
        .await;
    browser
        .type_into(
            "body",
            " All weekend on everything in every store, and a free coffee with any pastry 🎉",
        )
        .await;
    browser.see("#preview-encoding", "UCS-2").await;
    browser.see("#preview-segments", "2").await;
    browser.type_into("min_balance", "80").await;
    browser.see("#preview-recipients", "1").await;
    browser.check_accessibility("a new campaign").await;
    browser.screenshot("dashboard-campaign-preview").await;

    browser.click(Locator::Id("save")).await;
    browser.see("#notice", "Draft created.").await;
    browser.see("#preview-recipients", "1").await;
    browser.check_accessibility("a draft").await;
    browser.click(Locator::Id("send-now")).await;
    browser.see("#notice", "Sending started.").await;
    browser.see("#campaign-sent", "0").await;
    // The fan-out and the send happen meanwhile; the page follows without a reload.
    app.drain_campaigns().await;
    app.drain_outbox().await;
    browser.see("#campaign-sent", "1").await;
    browser.see("#campaign-progress", "1 of 1").await;
    assert!(
        eventually(|| async { client.find(Locator::Id("cancel")).await.is_err() }).await,
        "a campaign that has gone out can no longer be cancelled"
    );
    assert!(app
        .texts_to("+14155550600")
        .await
        .iter()
        .any(|t| t.contains("double points")));
    browser.check_accessibility("a sent campaign").await;
    browser.screenshot("dashboard-campaign").await;
    browser.click(Locator::LinkText("All campaigns")).await;
    browser.see("#campaign-c1 .status", "sent").await;
    browser.check_accessibility("campaigns").await;
    browser.screenshot("dashboard-campaigns").await;
}
