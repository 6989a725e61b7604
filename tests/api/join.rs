//! The public join form, `/join/{program}`, over HTTP: double opt-in, a page that never tells
//! whether a number was a member, the bot checks and the limits.

use crate::helpers::*;

const PHONE: &str = "+14155552671";

/// The form's token, from the page's HTML.
fn token_of(html: &str) -> String {
    let start = html.find(r#"name="token" value=""#).expect("a token field") + 20;
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

async fn page(app: &TestApp, query: &str) -> (u16, String) {
    let response = app
        .client
        .get(app.url(&format!("/join/bloom{query}")))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn submit(app: &TestApp, fields: &[(&str, &str)]) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/join/bloom"))
        .form(fields)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A filled-in form, as a person sends it: shown, then sent a few seconds later.
pub async fn join(app: &TestApp, phone: &str, first_name: &str) -> (u16, String) {
    let (_, html) = page(app, "").await;
    app.clock.advance(chrono::Duration::seconds(5));
    let token = token_of(&html);
    submit(
        app,
        &[
            ("phone", phone),
            ("first_name", first_name),
            ("website", ""),
            ("token", &token),
            ("lang", "en"),
        ],
    )
    .await
}

#[tokio::test]
async fn the_form_enrols_a_pending_member_who_is_asked_once_to_reply_yes() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    let (status, html) = page(&app, "").await;
    assert_eq!(status, 200);
    assert!(html.contains("Join Bloom Rewards"), "{html}");
    for disclosure in [
        "Msg&amp;data rates may apply",
        "HELP",
        "STOP",
        "Up to 6 msgs",
    ] {
        assert!(html.contains(disclosure), "{disclosure}");
    }

    let (status, done) = join(&app, "(415) 555-2671", "Zoë").await;
    assert_eq!(status, 200);
    assert!(done.contains("Check your phone"), "{done}");
    let member = app.member_json(PHONE).await;
    assert_eq!(member["status"], "pending");
    assert_eq!(member["first_name"], "Zoë");
    let record = &app.consent_json(PHONE).await["records"][0];
    assert_eq!(record["action"], "enrolled_pending");
    assert_eq!(record["channel"], "web");
    assert_eq!(record["client"], "127.0.0.1");
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("Reply YES"), "{texts:?}");

    app.text(PHONE, "YES").await;
    assert_eq!(app.member_json(PHONE).await["status"], "active");
}

#[tokio::test]
async fn the_page_after_a_submission_is_the_same_for_members_and_strangers() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    let (_, first) = join(&app, PHONE, "").await;
    let (_, again) = join(&app, PHONE, "").await;
    let member = "+14155550199";
    app.text(member, "JOIN").await;
    let texts_before = app.deliver_to(member).await.len();
    let (_, known) = join(&app, member, "Ann").await;
    assert_eq!(first, again);
    assert_eq!(first, known);
    assert_eq!(app.deliver_to(PHONE).await.len(), 1, "asked once");
    assert_eq!(app.deliver_to(member).await.len(), texts_before);
    let member_now = app.member_json(member).await;
    assert_eq!(member_now["status"], "active");
    assert!(member_now["first_name"].is_null(), "nothing changed");
}

#[tokio::test]
async fn a_form_sent_too_fast_with_a_forged_token_or_the_hidden_field_enrols_nobody() {
    let app = spawn_app().await;
    let (_, html) = page(&app, "").await;
    let token = token_of(&html);
    let fields = |token: &str, trap: &str| {
        vec![
            ("phone".to_owned(), PHONE.to_owned()),
            ("token".to_owned(), token.to_owned()),
            ("website".to_owned(), trap.to_owned()),
        ]
    };
    let post = |fields: Vec<(String, String)>| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/join/bloom"))
                .form(&fields)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    let (status, quick) = post(fields(&token, "")).await;
    assert_eq!(status, 422);
    assert!(quick.contains("That was quick"), "{quick}");
    assert!(
        quick.contains(r#"value="+14155552671""#),
        "what was typed is kept"
    );

    app.clock.advance(chrono::Duration::seconds(5));
    let forged = format!(
        "{}.{}",
        app.clock.now().timestamp_millis() - 60_000,
        "ab".repeat(32)
    );
    let (status, expired) = post(fields(&forged, "")).await;
    assert_eq!(status, 422);
    assert!(expired.contains("expired"), "{expired}");

    let (status, trapped) = post(fields(&token, "https://spam.example")).await;
    assert_eq!(status, 200);
    assert!(trapped.contains("Check your phone"), "a bot learns nothing");
    assert_problem(app.member(PHONE).await, 404, "member-not-found").await;

    app.clock.advance(chrono::Duration::hours(3));
    let (status, _) = post(fields(&token, "")).await;
    assert_eq!(status, 422, "a form shown three hours ago");
    assert_problem(app.member(PHONE).await, 404, "member-not-found").await;
}

#[tokio::test]
async fn a_number_that_is_not_a_mobile_number_is_shown_back_with_what_to_fix() {
    let app = spawn_app().await;
    let (status, html) = join(&app, "12", "Bo").await;
    assert_eq!(status, 422);
    assert!(
        html.contains("does not look like a mobile number"),
        "{html}"
    );
    assert!(html.contains(r#"value="Bo""#));
    assert!(html.contains(r#"role="alert""#));
    let (status, html) = join(&app, PHONE, &"x".repeat(51)).await;
    assert_eq!(status, 422);
    assert!(html.contains("under 50 characters"), "{html}");
    assert_problem(app.member(PHONE).await, 404, "member-not-found").await;
}

#[tokio::test]
async fn the_page_speaks_each_shipped_language_and_escapes_what_it_shows() {
    let app = spawn_app().await;
    let (_, es) = page(&app, "?lang=es").await;
    assert!(es.contains(r#"<html lang="es" dir="ltr">"#));
    assert!(es.contains("Únete a Bloom Rewards"));
    assert!(es.contains(r#"name="lang" value="es""#));
    let (_, ar) = page(&app, "?lang=ar").await;
    assert!(ar.contains(r#"<html lang="ar" dir="rtl">"#));
    let (_, unknown) = page(&app, "?lang=xx").await;
    assert!(
        unknown.contains(r#"<html lang="en""#),
        "the program's locale"
    );
    for html in [&es, &ar, &unknown] {
        for l in ["en", "es", "pt", "ar"] {
            assert!(html.contains(&format!("/join/bloom?lang={l}")), "{l}");
        }
    }
    let (status, html) = join(&app, "<script>alert(1)</script>", "").await;
    assert_eq!(status, 422);
    assert!(!html.contains("<script>alert"), "typed text is escaped");
    assert!(html.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn an_unknown_program_is_a_page_not_found() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/join/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("no loyalty program"));
}

#[tokio::test]
async fn submissions_from_one_address_are_limited_for_every_process() {
    let app = spawn_app().await;
    let second = spawn_second_process(&app, |_| {}).await;
    let (_, html) = page(&app, "").await;
    app.clock.advance(chrono::Duration::seconds(5));
    second.clock.set(app.clock.now());
    let token = token_of(&html);
    let limit = loyalty_gateway::web::join::LIMIT_COUNT as usize;
    let mut statuses = Vec::new();
    for i in 0..=limit {
        let process = if i % 2 == 0 { &app } else { &second };
        let phone = format!("+1415555{:04}", 3000 + i);
        let response = process
            .client
            .post(process.url("/join/bloom"))
            .form(&[("phone", phone.as_str()), ("token", token.as_str())])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses[..limit].iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(statuses[limit], 429);
    let last = format!("+1415555{:04}", 3000 + limit);
    assert_problem(app.member(&last).await, 404, "member-not-found").await;
}
