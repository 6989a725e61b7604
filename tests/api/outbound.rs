//! The sender against a Twilio played by wiremock, in Twilio's wire format.

use serde_json::json;
use wiremock::matchers::{basic_auth, body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const PHONE: &str = "+14155552671";

async fn message_status(app: &TestApp, id: &str) -> String {
    let program = app
        .state
        .programs()
        .find(|p| p.id.as_str() == "bloom")
        .unwrap()
        .clone();
    let record = app
        .state
        .outbox
        .message(&program, id)
        .await
        .unwrap()
        .unwrap();
    record["status"].clone()
}

#[tokio::test]
async fn a_text_reaches_twilio_in_its_wire_format() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TWILIO_PATH))
        .and(basic_auth(ACCOUNT_SID, AUTH_TOKEN))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("To=%2B14155552671"))
        .and(body_string_contains("From=%2B15005550006"))
        .and(body_string_contains(
            "StatusCallback=http%3A%2F%2Fgateway.test%2Fwebhooks%2Ftwilio%2Fstatus",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "SM1", "status": "queued", "num_segments": "1" })))
        .expect(1)
        .mount(&app.twilio)
        .await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    assert_eq!(app.drain_outbox().await, 1);
    let texts = app.sent_texts().await;
    assert!(texts[0].1.starts_with("Bloom Rewards:"), "{}", texts[0].1);
    assert_eq!(message_status(&app, "m1").await, "sent");
}

#[tokio::test]
async fn a_provider_error_then_success_is_delivered_exactly_once() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TWILIO_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({
            "code": 20500, "message": "Internal Server Error", "status": 503 })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.twilio)
        .await;
    twilio_accepts_everything(&app).await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    assert_eq!(
        message_status(&app, "m1").await,
        "queued",
        "scheduled for a retry"
    );
    // Not due yet: nothing more is sent.
    app.drain_outbox().await;
    assert_eq!(app.twilio.received_requests().await.unwrap().len(), 1);
    app.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(app.drain_outbox().await, 1);
    assert_eq!(message_status(&app, "m1").await, "sent");
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.drain_outbox().await, 0);
    assert_eq!(app.twilio.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn twilio_21610_marks_the_member_opted_out_without_retrying() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TWILIO_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21610, "message": "Attempt to send to unsubscribed recipient",
            "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400 })))
        .expect(1)
        .mount(&app.twilio)
        .await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    assert_eq!(message_status(&app, "m1").await, "failed");
    assert_eq!(app.member_json(PHONE).await["status"], "opted_out");
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.drain_outbox().await, 0);
}

#[tokio::test]
async fn an_undeliverable_number_is_not_retried() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TWILIO_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21614, "message": "'To' number is not a valid mobile number", "status": 400 })))
        .expect(1)
        .mount(&app.twilio)
        .await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    assert_eq!(message_status(&app, "m1").await, "failed");
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.drain_outbox().await, 0);
}
