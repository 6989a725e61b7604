//! The Telnyx webhook: Ed25519 signatures over `timestamp|body`.

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::json;

use crate::helpers::*;

const PHONE: &str = "+14155552671";

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

async fn telnyx_app() -> TestApp {
    let public =
        base64::engine::general_purpose::STANDARD.encode(signing_key().verifying_key().to_bytes());
    spawn_app_with(move |s| s.sms.telnyx.public_key = public).await
}

fn event(kind: &str, id: &str, text: &str) -> String {
    json!({ "data": { "event_type": kind, "id": "evt-1", "payload": {
        "id": id, "text": text,
        "from": { "phone_number": PHONE },
        "to": [{ "phone_number": SENDER, "status": "delivered" }],
    }}})
    .to_string()
}

async fn post(app: &TestApp, body: &str, timestamp: i64, sign: bool) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/webhooks/telnyx"))
        .header("Content-Type", "application/json")
        .header("telnyx-timestamp", timestamp.to_string())
        .body(body.to_owned());
    if sign {
        let signed = format!("{timestamp}|{body}");
        let signature = signing_key().sign(signed.as_bytes());
        request = request.header(
            "telnyx-signature-ed25519",
            base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        );
    }
    request.send().await.unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_signed_inbound_message_enrols_once() {
    let app = telnyx_app().await;
    let body = event(
        "message.received",
        "b1d0c6a8-0000-4000-8000-000000000001",
        "JOIN",
    );
    assert_eq!(post(&app, &body, now(), true).await.status(), 200);
    assert_eq!(post(&app, &body, now(), true).await.status(), 200);
    let member = app.member_json(PHONE).await;
    assert_eq!(member["status"], "active");
    assert_eq!(member["balance"], 50);
}

#[tokio::test]
async fn stale_forged_or_unsigned_events_are_refused() {
    let app = telnyx_app().await;
    let body = event("message.received", "id-2", "JOIN");
    assert_problem(
        post(&app, &body, now() - 301, true).await,
        403,
        "invalid-signature",
    )
    .await;
    assert_problem(
        post(&app, &body, now() + 301, true).await,
        403,
        "invalid-signature",
    )
    .await;
    assert_problem(
        post(&app, &body, now(), false).await,
        400,
        "missing-signature",
    )
    .await;
    let forged = event("message.received", "id-2", "STOP");
    let mut request = post(&app, &body, now(), true).await;
    assert_eq!(request.status(), 200);
    // The signature of one body does not cover another.
    let signed = format!("{}|{body}", now());
    let signature = base64::engine::general_purpose::STANDARD
        .encode(signing_key().sign(signed.as_bytes()).to_bytes());
    request = app
        .client
        .post(app.url("/webhooks/telnyx"))
        .header("telnyx-timestamp", now().to_string())
        .header("telnyx-signature-ed25519", signature)
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_problem(request, 403, "invalid-signature").await;
    assert_eq!(app.member_json(PHONE).await["status"], "active");
}

#[tokio::test]
async fn a_signed_garbage_body_is_400() {
    let app = telnyx_app().await;
    assert_problem(
        post(&app, "not json", now(), true).await,
        400,
        "bad-request",
    )
    .await;
    assert!(app.keys().await.is_empty());
}

#[tokio::test]
async fn a_delivery_failure_telnyx_calls_not_routable_keeps_campaigns_away() {
    let app = telnyx_app().await;
    twilio_accepts_everything(&app).await;
    app.text(PHONE, "JOIN").await;
    app.drain_outbox().await;
    let mut conn = app.redis().await;
    let welcome: String = redis::cmd("LINDEX")
        .arg(format!("{}:{{bloom}}:m:{PHONE}:messages", app.prefix))
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    let sid = app.message(&welcome).await["provider_id"].clone();
    let finalized = json!({ "data": { "event_type": "message.finalized", "id": "evt-2",
        "payload": {
            "id": sid,
            "from": { "phone_number": SENDER },
            "to": [{ "phone_number": PHONE, "status": "delivery_failed" }],
            "errors": [{ "code": "40001", "title": "Not routable" }],
    }}})
    .to_string();
    assert_eq!(post(&app, &finalized, now(), true).await.status(), 200);
    assert_eq!(app.message(&welcome).await["error_code"], "40001");
    let draft = app
        .post(
            "/v1/campaigns",
            MARKETING_KEY,
            &json!({ "name": "x", "body": "Hi" }),
        )
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let preview = app
        .post(
            &format!("/v1/campaigns/{}/preview", draft["id"].as_str().unwrap()),
            MARKETING_KEY,
            &json!({}),
        )
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(preview["recipients"], 0);
}
