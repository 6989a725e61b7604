//! The dashboard over HTTP, as a browser without JavaScript uses it: sign-in with an API key,
//! the session cookie, CSRF tokens on forms, throttled failures, the idle timeout and the
//! overview's figures against `GET /v1/stats`.

use std::collections::HashMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};

use crate::helpers::*;

/// A browser's cookie jar for the dashboard, kept by hand (name → value, with the attributes
/// each was last set with).
#[derive(Default)]
pub struct Jar {
    values: HashMap<String, String>,
    attributes: HashMap<String, String>,
}

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let header = header.to_str().unwrap();
            let (pair, attributes) = header.split_once(';').unwrap_or((header, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.attributes.insert(name.into(), attributes.into());
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.values.remove(name);
            } else {
                self.values.insert(name.into(), value.into());
            }
        }
    }

    fn header(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn get(app: &TestApp, jar: &mut Jar, path: &str) -> (u16, String, String) {
    let response = no_redirects()
        .get(app.url(path))
        .header(COOKIE, jar.header())
        .send()
        .await
        .unwrap();
    let (status, location) = answer(jar, &response);
    (status, location, response.text().await.unwrap())
}

/// The status and `Location` of `response`, its cookies kept in `jar`.
fn answer(jar: &mut Jar, response: &reqwest::Response) -> (u16, String) {
    jar.take(response);
    let location = response
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), location)
}

pub async fn post(
    app: &TestApp,
    jar: &mut Jar,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let response = no_redirects()
        .post(app.url(path))
        .header(COOKIE, jar.header())
        .form(form)
        .send()
        .await
        .unwrap();
    answer(jar, &response)
}

/// The value of the hidden field `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).expect("the field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

pub async fn sign_in(app: &TestApp, jar: &mut Jar, key: &str) -> (u16, String) {
    let (_, _, html) = get(app, jar, "/dashboard/sign-in").await;
    let csrf = hidden(&html, "csrf");
    post(
        app,
        jar,
        "/dashboard/sign-in",
        &[("key", key), ("csrf", &csrf)],
    )
    .await
}

/// The figure with `id` on the overview.
pub fn figure(html: &str, id: &str) -> i64 {
    let marker = format!(r#"id="{id}">"#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{id} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('<').unwrap()]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_marketing_key_signs_in_and_the_overview_shows_the_figures_of_the_stats_api() {
    let app = spawn_app().await;
    app.text("+14155550101", "JOIN").await;
    app.earn_ok("+14155550101", 12_000, "R-1").await;
    app.earn_ok("+14155550102", 2_500, "R-2").await;
    app.earn_ok("+14155550101", 1_000, "R-3").await;

    let mut jar = Jar::default();
    let (status, location, _) = get(&app, &mut jar, "/dashboard").await;
    assert_eq!((status, location.as_str()), (303, "/dashboard/sign-in"));
    let (status, _, html) = get(&app, &mut jar, "/dashboard/sign-in").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<label for="key">API key</label>"#),
        "{html}"
    );
    let attributes = &jar.attributes["lg_signin"];
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(attributes.contains(attribute), "{attributes}");
    }

    let (status, location) = sign_in(&app, &mut jar, MARKETING_KEY).await;
    assert_eq!((status, location.as_str()), (303, "/dashboard"));
    assert!(jar.values["lg_session"].starts_with("bloom."));
    let attributes = &jar.attributes["lg_session"];
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    assert!(!attributes.contains("Secure"), "public_url is http here");
    assert!(
        !jar.values.contains_key("lg_signin"),
        "the sign-in token is spent"
    );

    let (status, _, html) = get(&app, &mut jar, "/dashboard").await;
    assert_eq!(status, 200);
    assert!(html.contains("Bloom Rewards"));
    let today = app.clock.now().date_naive();
    let from = today - chrono::Duration::days(29);
    let stats: Value = app
        .get(&format!("/v1/stats?from={from}&to={today}"), MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(figure(&html, "members"), stats["members"]["total"]);
    assert_eq!(figure(&html, "members"), 2);
    assert_eq!(figure(&html, "new-members"), stats["members"]["new"]);
    assert_eq!(figure(&html, "visits"), 3);
    assert_eq!(figure(&html, "points-issued"), stats["points"]["issued"]);
    assert_eq!(
        figure(&html, "points-outstanding"),
        stats["points"]["outstanding"]
    );
    assert_eq!(figure(&html, "rewards-issued"), stats["rewards"]["issued"]);
    assert_eq!(html.matches("<svg").count(), 6, "six charts");
    assert!(
        html.contains(&format!("<td>{today}</td><td>3</td>")),
        "today's visits"
    );
    assert!(html.len() < 100_000, "{} bytes", html.len());
}

#[tokio::test]
async fn other_keys_cannot_sign_in_and_repeated_failures_are_throttled() {
    let app = spawn_app().await;
    let mut jar = Jar::default();
    assert_eq!(sign_in(&app, &mut jar, POS_KEY).await.0, 401);
    for _ in 1..loyalty_gateway::web::session::MAX_FAILURES {
        assert_eq!(sign_in(&app, &mut jar, "not-a-key").await.0, 401);
    }
    assert_eq!(
        sign_in(&app, &mut jar, ADMIN_KEY).await.0,
        429,
        "even the right key waits"
    );
    assert!(!jar.values.contains_key("lg_session"));
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(sign_in(&app, &mut jar, ADMIN_KEY).await.0, 303);
}

#[tokio::test]
async fn forms_need_their_token_and_a_session_ends_at_sign_out_or_when_idle() {
    let app = spawn_app().await;
    let mut jar = Jar::default();
    let (_, _, html) = get(&app, &mut jar, "/dashboard/sign-in").await;
    let csrf = hidden(&html, "csrf");
    let (status, _) = post(
        &app,
        &mut Jar::default(),
        "/dashboard/sign-in",
        &[("key", MARKETING_KEY), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(
        status, 403,
        "the token without its cookie (another site's form)"
    );

    assert_eq!(sign_in(&app, &mut jar, MARKETING_KEY).await.0, 303);
    let (_, _, html) = get(&app, &mut jar, "/dashboard").await;
    let csrf = hidden(&html, "csrf");
    let (status, _) = post(&app, &mut jar, "/dashboard/sign-out", &[("csrf", "forged")]).await;
    assert_eq!(status, 403);
    assert_eq!(
        get(&app, &mut jar, "/dashboard").await.0,
        200,
        "still signed in"
    );
    let stolen = jar.values["lg_session"].clone();
    let (status, location) = post(&app, &mut jar, "/dashboard/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!((status, location.as_str()), (303, "/dashboard/sign-in"));
    assert!(!jar.values.contains_key("lg_session"));
    jar.values.insert("lg_session".into(), stolen);
    assert_eq!(
        get(&app, &mut jar, "/dashboard").await.0,
        303,
        "the old cookie is void"
    );

    let mut jar = Jar::default();
    assert_eq!(sign_in(&app, &mut jar, MARKETING_KEY).await.0, 303);
    app.clock.advance(chrono::Duration::minutes(29));
    assert_eq!(
        get(&app, &mut jar, "/dashboard").await.0,
        200,
        "used: kept alive"
    );
    app.clock.advance(chrono::Duration::minutes(29));
    assert_eq!(get(&app, &mut jar, "/dashboard").await.0, 200);
    app.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(
        get(&app, &mut jar, "/dashboard").await.0,
        303,
        "idle too long"
    );
}

#[tokio::test]
async fn the_overview_narrows_to_a_location_and_says_when_a_filter_does_not_work() {
    let app = spawn_app().await;
    app.earn_ok("+14155550101", 1_000, "R-1").await;
    let at_riverside = serde_json::json!({ "phone": "+14155550102", "amount": 1000,
        "location": "store-7", "receipt": "R-2" });
    assert_eq!(app.earn(at_riverside).await.status(), 200);
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, MARKETING_KEY).await;
    let (_, _, all) = get(&app, &mut jar, "/dashboard").await;
    assert_eq!(figure(&all, "visits"), 2);
    let (_, _, riverside) = get(&app, &mut jar, "/dashboard?location=store-7").await;
    assert_eq!(figure(&riverside, "visits"), 1);
    assert!(riverside.contains(r#"<option value="store-7" selected>Riverside</option>"#));
    let (status, _, bad) = get(
        &app,
        &mut jar,
        "/dashboard?location=store-99&from=2026-13-01",
    )
    .await;
    assert_eq!(status, 200);
    assert!(bad.contains(r#"role="alert""#), "{bad}");
    assert!(bad.contains("Those filters do not work"));
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_gateway_is_served_over_https() {
    let app = spawn_app_with(|s| s.server.public_url = "https://gateway.example".into()).await;
    let mut jar = Jar::default();
    assert_eq!(sign_in(&app, &mut jar, ADMIN_KEY).await.0, 303);
    assert!(jar.attributes["lg_session"].contains("Secure"));
}

#[tokio::test]
async fn the_locations_page_counts_each_locations_visits_and_links_its_poster() {
    let app = spawn_app().await;
    app.earn_ok("+14155550101", 1_000, "R-1").await;
    app.earn_ok("+14155550102", 1_000, "R-2").await;
    let at_riverside = serde_json::json!({ "phone": "+14155550102", "amount": 1000,
        "location": "store-7", "receipt": "R-3" });
    assert_eq!(app.earn(at_riverside).await.status(), 200);
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, MARKETING_KEY).await;
    let (status, _, html) = get(&app, &mut jar, "/dashboard/locations").await;
    assert_eq!(status, 200);
    let visits = |id: &str| -> i64 {
        let row = &html[html.find(&format!(r#"id="location-{id}""#)).unwrap()..];
        let start = row.find(r#"class="visits">"#).unwrap() + 15;
        row[start..start + row[start..].find('<').unwrap()]
            .parse()
            .unwrap()
    };
    assert_eq!((visits("store-12"), visits("store-7")), (2, 1));
    assert!(html.contains(r#"href="/join/bloom/poster?location=store-7""#));
    assert!(html.contains(r#"href="/join/bloom/poster.png?code=sms" download"#));
}

#[tokio::test]
async fn an_admin_sends_a_dead_letter_again_from_the_operations_page_and_a_marketer_cannot() {
    let app = spawn_app().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(500))
        .mount(&app.twilio)
        .await;
    app.text("+14155550101", "JOIN").await;
    app.drain_outbox().await;
    // The first failure shows as a recent error, with the text's next attempt.
    let mut marketer = Jar::default();
    sign_in(&app, &mut marketer, MARKETING_KEY).await;
    let (_, _, html) = get(&app, &mut marketer, "/dashboard/operations").await;
    let record = app.message("m1").await;
    let retrying = &html[html.find(r#"id="retrying""#).expect("the retry table")..];
    assert!(
        retrying.contains(&format!(
            "<tr><td>m1</td><td>1</td><td>{}</td><td>{}</td></tr>",
            record["error"],
            loyalty_gateway::clock::rfc3339_from_ms(record["retry_at_ms"].parse().unwrap())
        )),
        "{retrying}"
    );
    for _ in 0..5 {
        app.clock.advance(chrono::Duration::seconds(600));
        app.drain_outbox().await;
    }
    let dead: Vec<Value> = app
        .get("/v1/dead-letters", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let id = dead[0]["id"].as_str().unwrap().to_owned();

    // Signed in again: the retries took longer than a session's idle timeout.
    let mut marketer = Jar::default();
    sign_in(&app, &mut marketer, MARKETING_KEY).await;
    let (_, _, html) = get(&app, &mut marketer, "/dashboard/operations").await;
    assert_eq!(figure(&html, "dead"), 1);
    assert!(html.contains(&format!("<td>{id}</td>")));
    assert!(!html.contains("Send again"), "not for a marketing key");
    let csrf = hidden(&html, "csrf");
    let (status, _) = post(
        &app,
        &mut marketer,
        "/dashboard/operations/requeue",
        &[("csrf", &csrf), ("id", &id)],
    )
    .await;
    assert_eq!(status, 403);

    let mut admin = Jar::default();
    sign_in(&app, &mut admin, ADMIN_KEY).await;
    let (_, _, html) = get(&app, &mut admin, "/dashboard/operations").await;
    let csrf = hidden(&html, "csrf");
    let (status, location) = post(
        &app,
        &mut admin,
        "/dashboard/operations/requeue",
        &[("csrf", &csrf), ("id", &id)],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/dashboard/operations"));
    let (_, _, html) = get(&app, &mut admin, "/dashboard/operations").await;
    assert_eq!(figure(&html, "dead"), 0);
    assert_eq!(figure(&html, "outbox"), 1, "queued again");
}

#[tokio::test]
async fn a_member_is_found_by_number_in_any_format_and_shows_history_texts_and_consent() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    app.text("+14155552671", "JOIN").await;
    app.earn_ok("+14155552671", 12_000, "R-1").await;
    app.drain_outbox().await;
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, MARKETING_KEY).await;
    let (status, location, _) =
        get(&app, &mut jar, "/dashboard/members?phone=(415)+555-2671").await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/dashboard/members/%2B14155552671")
    );
    let (status, _, html) = get(&app, &mut jar, &location).await;
    assert_eq!(status, 200);
    let member = app.member_json("+14155552671").await;
    assert_eq!(figure(&html, "balance"), member["balance"]);
    assert!(html.contains(r#"id="status">active<"#));
    let history = &html[html.find(r#"id="history""#).unwrap()..];
    assert!(history.contains("<td>earn</td>") && history.contains("<td>welcome</td>"));
    assert!(
        history.contains("<td>sent</td>"),
        "the receipt text's delivery state"
    );
    let consent = &html[html.find(r#"id="consent""#).unwrap()..];
    assert!(
        consent.contains("<td>opt_in</td><td>sms</td><td>JOIN</td>"),
        "{consent}"
    );
    for code in member["rewards"].as_array().unwrap() {
        assert!(html.contains(code["code"].as_str().unwrap()));
    }

    let (status, _, html) = get(&app, &mut jar, "/dashboard/members?phone=%2B14155550000").await;
    assert_eq!(status, 404);
    assert!(html.contains("No member has this number."));
    let (status, _, html) = get(&app, &mut jar, "/dashboard/members?phone=12").await;
    assert_eq!(status, 404);
    assert!(html.contains("not a phone number"));
}

#[tokio::test]
async fn an_admin_adjusts_once_per_form_and_erases_only_after_confirming() {
    let app = spawn_app().await;
    app.earn_ok("+14155552671", 1_000, "R-1").await;
    let page = "/dashboard/members/%2B14155552671";
    let mut marketer = Jar::default();
    sign_in(&app, &mut marketer, MARKETING_KEY).await;
    let (_, _, html) = get(&app, &mut marketer, page).await;
    assert!(!html.contains("Adjust points"), "not for a marketing key");
    let csrf = hidden(&html, "csrf");
    let refused = post(
        &app,
        &mut marketer,
        &format!("{page}/erase"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(refused.0, 403);

    let mut admin = Jar::default();
    sign_in(&app, &mut admin, ADMIN_KEY).await;
    let (_, _, html) = get(&app, &mut admin, page).await;
    let (csrf, form_id) = (hidden(&html, "csrf"), hidden(&html, "form_id"));
    let form = [
        ("csrf", csrf.as_str()),
        ("form_id", &form_id),
        ("points", "250"),
        ("reason", "Order arrived late"),
    ];
    let (status, location) = post(&app, &mut admin, &format!("{page}/adjust"), &form).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/dashboard/members/%2B14155552671?done=adjusted")
    );
    post(&app, &mut admin, &format!("{page}/adjust"), &form).await;
    assert_eq!(
        app.member_json("+14155552671").await["balance"],
        260,
        "the same form counts once"
    );
    let entry = &app.history("+14155552671").await[0];
    assert_eq!(
        (&entry["type"], &entry["by"], &entry["reason"]),
        (
            &json!("adjust"),
            &json!("admin"),
            &json!("Order arrived late")
        )
    );
    let (_, location) = post(
        &app,
        &mut admin,
        &format!("{page}/adjust"),
        &[
            ("csrf", &csrf),
            ("form_id", "other"),
            ("points", "-1000"),
            ("reason", "oops"),
        ],
    )
    .await;
    assert!(location.ends_with("error=below_zero"), "{location}");
    let (_, _, html) = get(&app, &mut admin, &location).await;
    assert!(html.contains("below zero"));

    let (_, location) = post(
        &app,
        &mut admin,
        &format!("{page}/erase"),
        &[("csrf", &csrf)],
    )
    .await;
    assert!(location.ends_with("error=confirm"));
    assert_eq!(
        app.member("+14155552671").await.status(),
        200,
        "not erased without confirming"
    );
    let (status, location) = post(
        &app,
        &mut admin,
        &format!("{page}/erase"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/dashboard/members?erased=1")
    );
    assert_eq!(app.member("+14155552671").await.status(), 404);
}

#[tokio::test]
async fn the_automations_page_lists_each_configured_automation_with_its_counts() {
    let app = spawn_app_with(|s| {
        s.programs[0] = bloom_with(
            "\n[programs.automations.near_reward]\nwithin_points = 200\n\
             [programs.automations.win_back]\nafter = \"30d\"\n",
        );
    })
    .await;
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, MARKETING_KEY).await;
    let (status, _, html) = get(&app, &mut jar, "/dashboard/automations").await;
    assert_eq!(status, 200);
    let api: Vec<Value> = app
        .get("/v1/automations", MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api.len(), 2);
    for automation in &api {
        let name = automation["automation"].as_str().unwrap();
        let row = &html[html.find(&format!(r#"id="automation-{name}""#)).unwrap()..];
        let sent = &row[row.find(r#"class="sent">"#).unwrap() + 13..];
        assert_eq!(
            &sent[..sent.find('<').unwrap()],
            automation["sent"].to_string()
        );
        assert!(row.contains("0.0 % / 0.0 %"), "{row}");
    }
}

/// The text of the element with `id` (up to its first tag).
pub fn text_of(html: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}">"#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{id} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

/// A campaign's form as the dashboard sends it.
pub fn campaign_form<'a>(
    csrf: &'a str,
    body: &'a str,
    min_balance: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("name", "Weekend"),
        ("body", body),
        ("min_balance", min_balance),
        ("holdout_percent", "0"),
        ("attribution_days", "7"),
    ]
}

/// The dashboard's live preview of a form that is not saved.
pub async fn live_preview(app: &TestApp, jar: &mut Jar, form: &[(&str, &str)]) -> String {
    let response = no_redirects()
        .post(app.url("/dashboard/campaigns/preview"))
        .header(COOKIE, jar.header())
        .header("HX-Request", "true")
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Ana, Ben and Cy join by text at `prefix` 0, 1 and 2 and give their names: 50 welcome points
/// each, and Ana 50 more from a purchase. Their texts are sent.
pub async fn three_named_members(app: &TestApp, prefix: &str) {
    for (i, name) in ["Ana", "Ben", "Cy"].iter().enumerate() {
        let phone = format!("{prefix}{i}");
        app.text(&phone, "JOIN").await;
        app.text(&phone, &format!("NAME {name}")).await;
    }
    app.earn_ok(&format!("{prefix}0"), 5_000, "R-1").await;
    app.drain_outbox().await;
}

#[tokio::test]
async fn a_marketer_previews_a_campaign_as_it_is_typed_then_saves_tests_and_sends_it() {
    let app = spawn_app().await;
    in_californian_daytime(&app);
    twilio_accepts_everything(&app).await;
    three_named_members(&app, "+1415555020").await;
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, MARKETING_KEY).await;
    let (status, _, html) = get(&app, &mut jar, "/dashboard/campaigns").await;
    assert_eq!(status, 200);
    assert!(html.contains("No campaign yet."));
    let (_, _, html) = get(&app, &mut jar, "/dashboard/campaigns/new").await;
    let csrf = hidden(&html, "csrf");

    // The preview follows the form as it stands: the body's length and alphabet, the segment.
    let form =
        |body: &'static str, min_balance: &'static str| campaign_form(&csrf, body, min_balance);
    let short = live_preview(
        &app,
        &mut jar,
        &form("Hi {{ first_name }}, double points!", ""),
    )
    .await;
    assert_eq!(text_of(&short, "preview-recipients"), "3");
    assert_eq!(text_of(&short, "preview-encoding"), "GSM-7");
    assert_eq!(text_of(&short, "preview-segments"), "1");
    assert!(
        short.contains("Hi Ana, double points! Reply STOP to opt out."),
        "{short}"
    );
    let long = live_preview(
        &app,
        &mut jar,
        &form(
            "Hi {{ first_name }}, double points all weekend on everything in every store we have, \
         and a free coffee with any pastry before ten, only this Saturday and Sunday 🎉",
            "",
        ),
    )
    .await;
    assert_eq!(text_of(&long, "preview-encoding"), "UCS-2");
    assert_eq!(text_of(&long, "preview-segments"), "3");
    let narrowed = live_preview(&app, &mut jar, &form("Hi {{ first_name }}", "80")).await;
    assert_eq!(text_of(&narrowed, "preview-recipients"), "1");
    let wrong = live_preview(&app, &mut jar, &form("Hi {{ frist_name }", "")).await;
    assert!(
        text_of(&wrong, "preview-error").starts_with("body:"),
        "{wrong}"
    );
    let bad_number = live_preview(&app, &mut jar, &form("Hi", "lots")).await;
    assert!(text_of(&bad_number, "preview-error").starts_with("segment.min_balance:"));

    // A form without the session's token changes nothing.
    let (status, _) = post(
        &app,
        &mut jar,
        "/dashboard/campaigns",
        &[("name", "x"), ("body", "y")],
    )
    .await;
    assert_eq!(status, 403);
    let page: Value = app
        .get("/v1/campaigns", MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.as_array().unwrap().len(), 0);

    // Saved, the draft's page shows the same figures as the API's preview.
    let created = form("Hi {{ first_name }}, double points!", "");
    let (status, location) = post(&app, &mut jar, "/dashboard/campaigns", &created).await;
    assert_eq!(status, 303);
    assert_eq!(location, "/dashboard/campaigns/c1?done=created");
    let (_, _, html) = get(&app, &mut jar, &location).await;
    assert_eq!(text_of(&html, "notice"), "Draft created.");
    let api_preview: Value = app
        .post("/v1/campaigns/c1/preview", MARKETING_KEY, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        figure(&html, "preview-recipients"),
        api_preview["recipients"]
    );
    assert_eq!(
        text_of(&html, "preview-cost"),
        format!(
            "{} {}",
            api_preview["estimated_cost"].as_str().unwrap(),
            api_preview["currency"].as_str().unwrap()
        )
    );

    // A wrong value is said, and the draft stays as it was.
    let mut edited = form("Hi {{ first_name }}, triple points!", "");
    edited.retain(|(k, _)| *k != "holdout_percent");
    edited.push(("holdout_percent", "70"));
    let response = no_redirects()
        .post(app.url("/dashboard/campaigns/c1"))
        .header(COOKIE, jar.header())
        .form(&edited)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(text_of(&html, "problem").starts_with("holdout_percent:"));
    assert!(
        html.contains("triple points"),
        "the form keeps what was typed"
    );
    assert!(crate::campaigns::campaign(&app, "c1").await["body"]
        .as_str()
        .unwrap()
        .contains("double points"));
    let edited = form("Hi {{ first_name }}, triple points!", "");
    let (status, location) = post(&app, &mut jar, "/dashboard/campaigns/c1", &edited).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/dashboard/campaigns/c1?done=saved")
    );
    assert!(crate::campaigns::campaign(&app, "c1").await["body"]
        .as_str()
        .unwrap()
        .contains("triple points"));

    // A test copy goes to the number given, in any format; a wrong number is said.
    let (_, location) = post(
        &app,
        &mut jar,
        "/dashboard/campaigns/c1/test",
        &[("csrf", &csrf), ("phone", "(415) 555-0299")],
    )
    .await;
    assert_eq!(location, "/dashboard/campaigns/c1?done=test");
    let (_, location) = post(
        &app,
        &mut jar,
        "/dashboard/campaigns/c1/test",
        &[("csrf", &csrf), ("phone", "12")],
    )
    .await;
    assert_eq!(location, "/dashboard/campaigns/c1?error=phone");
    app.text("+14155550299", "JOIN").await;
    app.drain_outbox().await;
    assert!(app
        .texts_to("+14155550299")
        .await
        .iter()
        .any(|t| t.contains("triple points")));

    // Sent: the page follows its progress, with the API's counts.
    let (_, location) = post(
        &app,
        &mut jar,
        "/dashboard/campaigns/c1/send",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(location, "/dashboard/campaigns/c1?done=sent");
    app.drain_campaigns().await;
    app.drain_outbox().await;
    let (_, _, html) = get(&app, &mut jar, "/dashboard/campaigns/c1").await;
    let api = crate::campaigns::campaign(&app, "c1").await;
    assert_eq!(figure(&html, "campaign-sent"), api["sent"]);
    assert_eq!(
        api["sent"], 4,
        "the three members and the test number, who joined since"
    );
    assert_eq!(
        text_of(&html, "campaign-status"),
        api["status"].as_str().unwrap()
    );
    let (_, _, list) = get(&app, &mut jar, "/dashboard/campaigns").await;
    assert!(list.contains(r#"<a href="/dashboard/campaigns/c1">Weekend</a>"#));
    assert!(list.contains(&format!("{} of {}", api["sent"], api["recipients"])));
}

#[tokio::test]
async fn a_campaign_is_scheduled_in_the_programs_zone_cancelled_and_its_results_match_the_api() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    app.clock.set("2026-11-20T15:00:00Z".parse().unwrap());
    for i in 0..8 {
        app.text(&format!("+141555503{i:02}"), "JOIN").await;
    }
    app.drain_outbox().await;
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, MARKETING_KEY).await;
    let (_, _, html) = get(&app, &mut jar, "/dashboard/campaigns/new").await;
    let csrf = hidden(&html, "csrf");
    for name in ["Later", "Now"] {
        let (status, _) = post(
            &app,
            &mut jar,
            "/dashboard/campaigns",
            &[
                ("csrf", &csrf),
                ("name", name),
                ("body", "Come by this week!"),
                ("holdout_percent", "50"),
                ("attribution_days", "7"),
            ],
        )
        .await;
        assert_eq!(status, 303);
    }
    // The program's zone is America/New_York: 12:30 there is 17:30 UTC.
    let (_, location) = post(
        &app,
        &mut jar,
        "/dashboard/campaigns/c1/schedule",
        &[("csrf", &csrf), ("send_at", "2026-11-20T06:00")],
    )
    .await;
    assert_eq!(
        location, "/dashboard/campaigns/c1?error=schedule",
        "in the past"
    );
    let (_, location) = post(
        &app,
        &mut jar,
        "/dashboard/campaigns/c1/schedule",
        &[("csrf", &csrf), ("send_at", "2026-11-20T12:30")],
    )
    .await;
    assert_eq!(location, "/dashboard/campaigns/c1?done=scheduled");
    let api = crate::campaigns::campaign(&app, "c1").await;
    assert_eq!(api["status"], "scheduled");
    assert_eq!(api["send_at"], "2026-11-20T17:30:00.000Z");
    let (_, location) = post(
        &app,
        &mut jar,
        "/dashboard/campaigns/c1/cancel",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(location, "/dashboard/campaigns/c1?done=cancelled");
    assert_eq!(
        crate::campaigns::campaign(&app, "c1").await["status"],
        "cancelled"
    );

    // Sent with half held out; everyone visits; the page's figures are the API's.
    post(
        &app,
        &mut jar,
        "/dashboard/campaigns/c2/send",
        &[("csrf", &csrf)],
    )
    .await;
    app.drain_campaigns().await;
    app.drain_outbox().await;
    for i in 0..8 {
        app.earn_ok(
            &format!("+141555503{i:02}"),
            1_000 + 500 * i,
            &format!("V-{i}"),
        )
        .await;
    }
    let (status, _, html) = get(&app, &mut jar, "/dashboard/campaigns/c2").await;
    assert_eq!(status, 200);
    let results: Value = app
        .get("/v1/campaigns/c2/results", MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results["holdout"]["members"], 4);
    let row = |group: &Value| {
        format!(
            "<td>{}</td><td>{}</td>\n        <td>{}</td><td>{:.1} %</td>",
            group["members"],
            group["visitors"],
            group["visits"],
            group["visit_rate"].as_f64().unwrap() * 100.0
        )
    };
    assert!(html.contains(&row(&results["recipients"])), "{html}");
    assert!(html.contains(&row(&results["holdout"])), "{html}");
    assert!(html.contains(r#"role="img" aria-label="Visit rate""#));
    assert_eq!(
        text_of(&html, "incremental"),
        format!(
            "What it brought beyond the holdout: {:.1} · {:.2} USD",
            results["incremental"]["visits"].as_f64().unwrap(),
            results["incremental"]["spend"].as_f64().unwrap() / 100.0
        )
    );
}

#[tokio::test]
async fn htmx_is_served_under_its_hash_for_good_and_every_page_stays_under_100_kb() {
    let app = spawn_app().await;
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, ADMIN_KEY).await;
    app.text("+14155550401", "JOIN").await;
    let (_, _, html) = get(&app, &mut jar, "/dashboard/campaigns/new").await;
    let csrf = hidden(&html, "csrf");
    post(
        &app,
        &mut jar,
        "/dashboard/campaigns",
        &[("csrf", &csrf), ("name", "A"), ("body", "Hello")],
    )
    .await;
    let marker = r#"<script src=""#;
    let start = html.find(marker).unwrap() + marker.len();
    let script = &html[start..start + html[start..].find('"').unwrap()];
    let vendored = include_bytes!("../../web/static/htmx.min.js");
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(vendored));
    assert_eq!(
        script,
        format!("/dashboard/assets/htmx-{}.min.js", &hash[..16])
    );
    let response = reqwest::get(app.url(script)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(&response.bytes().await.unwrap()[..], &vendored[..]);
    let stale = reqwest::get(app.url("/dashboard/assets/htmx-0000000000000000.min.js"))
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);

    // Each page with the script it loads, as a first visit transfers them.
    for path in [
        "/dashboard",
        "/dashboard/members",
        "/dashboard/members/+14155550401",
        "/dashboard/campaigns",
        "/dashboard/campaigns/new",
        "/dashboard/campaigns/c1",
        "/dashboard/automations",
        "/dashboard/locations",
        "/dashboard/operations",
        "/join/bloom",
        "/join/bloom/poster",
    ] {
        let (status, _, html) = get(&app, &mut jar, path).await;
        assert_eq!(status, 200, "{path}");
        let scripts = if html.contains(marker) {
            vendored.len()
        } else {
            0
        };
        let weight = html.len() + scripts;
        assert!(weight < 100_000, "{path}: {weight} bytes");
    }
}

/// Signs in with a name and a password on the sign-in page's first form.
async fn sign_in_as(app: &TestApp, jar: &mut Jar, user: &str, password: &str) -> (u16, String) {
    let (_, _, html) = get(app, jar, "/dashboard/sign-in").await;
    let csrf = hidden(&html, "csrf");
    post(
        app,
        jar,
        "/dashboard/sign-in",
        &[("user", user), ("password", password), ("csrf", &csrf)],
    )
    .await
}

#[tokio::test]
async fn configured_users_sign_in_with_their_password_and_act_within_their_scope() {
    let vectors: Value =
        serde_json::from_str(include_str!("../fixtures/argon2/vectors.json")).unwrap();
    let hash = |i: usize| vectors["vectors"][i]["hash"].as_str().unwrap().to_owned();
    let password = vectors["vectors"][0]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let (owner_hash, marketer_hash) = (hash(1), hash(0));
    let app = spawn_app_with(move |s| {
        let bloom = s.programs[0].id.clone();
        for (name, scope, password_hash) in [
            (
                "owner",
                loyalty_gateway::auth::Scope::Admin,
                owner_hash.clone(),
            ),
            (
                "sam",
                loyalty_gateway::auth::Scope::Marketing,
                marketer_hash.clone(),
            ),
        ] {
            s.dashboard_users
                .push(std::sync::Arc::new(loyalty_gateway::auth::DashboardUser {
                    name: name.into(),
                    program: bloom.clone(),
                    scope,
                    password_hash,
                }));
        }
    })
    .await;
    app.earn_ok("+14155552671", 1_000, "R-1").await;

    let mut jar = Jar::default();
    for (user, wrong) in [
        ("owner", "correct horse battery stapler"),
        ("nobody", password.as_str()),
    ] {
        let (status, _) = sign_in_as(&app, &mut jar, user, wrong).await;
        assert_eq!(status, 401, "{user}");
        assert!(!jar.values.contains_key("lg_session"));
    }
    let (status, location) = sign_in_as(&app, &mut jar, "owner", &password).await;
    assert_eq!((status, location.as_str()), (303, "/dashboard"));
    let page = "/dashboard/members/%2B14155552671";
    let (_, _, html) = get(&app, &mut jar, page).await;
    assert!(html.contains("Signed in as owner"));
    let (csrf, form_id) = (hidden(&html, "csrf"), hidden(&html, "form_id"));
    let (_, location) = post(
        &app,
        &mut jar,
        &format!("{page}/adjust"),
        &[
            ("csrf", &csrf),
            ("form_id", &form_id),
            ("points", "5"),
            ("reason", "Birthday"),
        ],
    )
    .await;
    assert!(location.ends_with("done=adjusted"), "{location}");
    assert_eq!(
        app.history("+14155552671").await[0]["by"],
        "user:owner",
        "the audit trail names the person"
    );

    // A marketing user reads but does not act as an admin.
    let mut jar = Jar::default();
    sign_in_as(&app, &mut jar, "sam", &password).await;
    let (_, _, html) = get(&app, &mut jar, page).await;
    assert!(!html.contains("Adjust points"));
    let csrf = hidden(&html, "csrf");
    let (status, _) = post(
        &app,
        &mut jar,
        &format!("{page}/erase"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(app.member_json("+14155552671").await["balance"], 15);
}

#[tokio::test]
async fn the_overview_charts_the_points_held_at_each_days_end_as_the_balances_were() {
    let app = spawn_app().await;
    let phone = "+14155550501";
    let mut held_at_end = Vec::new();
    app.clock.set("2026-11-02T15:00:00Z".parse().unwrap());
    app.text(phone, "JOIN").await;
    held_at_end.push(app.member_json(phone).await["balance"].as_i64().unwrap());
    app.clock.set("2026-11-03T15:00:00Z".parse().unwrap());
    app.earn_ok(phone, 12_000, "R-1").await;
    held_at_end.push(app.member_json(phone).await["balance"].as_i64().unwrap());
    app.clock.set("2026-11-04T15:00:00Z".parse().unwrap());
    app.earn_ok("+14155550502", 3_000, "R-2").await;
    held_at_end.push(
        app.member_json(phone).await["balance"].as_i64().unwrap()
            + app.member_json("+14155550502").await["balance"]
                .as_i64()
                .unwrap(),
    );
    // A day on, the window's last day is no longer today: what later days added and took (an
    // erased member's points) counts too.
    app.clock.set("2026-11-05T15:00:00Z".parse().unwrap());
    app.earn_ok(phone, 5_000, "R-3").await;
    let erased = crate::admin::erase(&app, "+14155550502").await;
    assert_eq!(erased.status(), 204);
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, MARKETING_KEY).await;
    let (status, _, html) = get(&app, &mut jar, "/dashboard?from=2026-11-02&to=2026-11-04").await;
    assert_eq!(status, 200);
    let chart = &html[html.find("(the liability)").expect("the chart")..];
    let table = &chart[chart.find("<tbody>").unwrap()..chart.find("</tbody>").unwrap()];
    let rows: Vec<(String, i64)> = table
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let (date, rest) = row.split_once("</td><td>").unwrap();
            (
                date.to_owned(),
                rest[..rest.find('<').unwrap()].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-11-02".to_owned(), held_at_end[0]),
            ("2026-11-03".to_owned(), held_at_end[1]),
            ("2026-11-04".to_owned(), held_at_end[2]),
        ]
    );
    // With a location, the program's holdings are not shown as the location's.
    let (_, _, html) = get(&app, &mut jar, "/dashboard?location=store-12").await;
    assert!(!html.contains("(the liability)"));
}
