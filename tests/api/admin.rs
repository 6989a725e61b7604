//! Admin member operations: audited adjustments and erasure.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::helpers::*;

const PHONE: &str = "+14155552671";

async fn adjust(
    app: &TestApp,
    phone: &str,
    body: Value,
    idempotency_key: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/members/{}/adjust", urlencode(phone))))
        .bearer_auth(ADMIN_KEY)
        .json(&body);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

pub async fn erase(app: &TestApp, phone: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/v1/members/{}", urlencode(phone))))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_adjustment_changes_the_balance_and_history_names_the_key_and_reason() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 1000, "R-1").await;
    let response = adjust(
        &app,
        PHONE,
        json!({ "points": 250, "reason": "Order arrived late" }),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (&body["points"], &body["balance"]),
        (&json!(250), &json!(260))
    );
    assert_eq!(
        body["lifetime_points"], 10,
        "lifetime counts purchases only"
    );
    let entry = &app.history(PHONE).await[0];
    assert_eq!(
        (
            &entry["type"],
            &entry["points"],
            &entry["balance"],
            &entry["reason"],
            &entry["by"]
        ),
        (
            &json!("adjust"),
            &json!(250),
            &json!(260),
            &json!("Order arrived late"),
            &json!("admin")
        )
    );

    // Not below zero unless asked.
    let refused = adjust(
        &app,
        PHONE,
        json!({ "points": -261, "reason": "Correction" }),
        None,
    )
    .await;
    assert_problem(refused, 409, "insufficient-points").await;
    assert_eq!(app.member_json(PHONE).await["balance"], 260);
    let allowed = adjust(
        &app,
        PHONE,
        json!({ "points": -261, "reason": "Correction", "allow_negative": true }),
        None,
    )
    .await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(app.member_json(PHONE).await["balance"], -1);
    // Adding to a balance below zero needs no permission, even when it stays below zero.
    let deeper = adjust(
        &app,
        PHONE,
        json!({ "points": -99, "reason": "Chargeback", "allow_negative": true }),
        None,
    )
    .await;
    assert_eq!(deeper.status(), 200);
    let partial = adjust(
        &app,
        PHONE,
        json!({ "points": 40, "reason": "Goodwill" }),
        None,
    )
    .await;
    assert_eq!(partial.status(), 200);
    assert_eq!(app.member_json(PHONE).await["balance"], -60);
}

#[tokio::test]
async fn an_adjustment_retried_with_its_idempotency_key_is_made_once() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 1000, "R-1").await;
    let body = json!({ "points": 100, "reason": "Goodwill" });
    let first = adjust(&app, PHONE, body.clone(), Some("adj-1")).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = adjust(&app, PHONE, body, Some("adj-1")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["Idempotent-Replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.member_json(PHONE).await["balance"], 110);
    let adjustments = app
        .history(PHONE)
        .await
        .iter()
        .filter(|e| e["type"] == "adjust")
        .count();
    assert_eq!(adjustments, 1);
    let other = adjust(
        &app,
        PHONE,
        json!({ "points": 5, "reason": "Goodwill" }),
        Some("adj-1"),
    )
    .await;
    assert_problem(other, 409, "receipt-conflict").await;
}

#[tokio::test]
async fn a_bad_adjustment_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 1000, "R-1").await;
    for (body, field) in [
        (json!({ "points": 0, "reason": "x" }), "points"),
        (json!({ "points": 100_000_001, "reason": "x" }), "points"),
        (json!({ "points": 5, "reason": "  " }), "reason"),
        (json!({ "points": 5, "reason": "a\u{0007}b" }), "reason"),
        (json!({ "points": 5, "reason": "x".repeat(201) }), "reason"),
    ] {
        let problem = assert_problem(
            adjust(&app, PHONE, body, None).await,
            422,
            "validation-error",
        )
        .await;
        assert_eq!(problem["field"], field);
    }
    let bad_key = adjust(
        &app,
        PHONE,
        json!({ "points": 5, "reason": "x" }),
        Some("clé"),
    )
    .await;
    assert_eq!(
        assert_problem(bad_key, 422, "validation-error").await["field"],
        "Idempotency-Key"
    );
    let unknown = adjust(
        &app,
        "+14155550000",
        json!({ "points": 5, "reason": "x" }),
        None,
    )
    .await;
    assert_problem(unknown, 404, "member-not-found").await;
    let pos = app
        .post(
            &format!("/v1/members/{}/adjust", urlencode(PHONE)),
            POS_KEY,
            &json!({ "points": 5, "reason": "x" }),
        )
        .await;
    assert_problem(pos, 403, "forbidden").await;
    assert_eq!(app.member_json(PHONE).await["balance"], 10);
    assert_eq!(app.history(PHONE).await.len(), 1);
}

/// Every key of the test and everything stored in it, as text.
async fn everything_stored(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = app.redis().await;
    let mut dump = Vec::new();
    for key in app.keys().await {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut read = match kind.as_str() {
            "string" => redis::cmd("GET"),
            "hash" => redis::cmd("HGETALL"),
            "list" | "zset" => redis::cmd(if kind == "list" { "LRANGE" } else { "ZRANGE" }),
            "set" => redis::cmd("SMEMBERS"),
            "stream" => redis::cmd("XRANGE"),
            other => panic!("{key} is a {other}"),
        };
        read.arg(&key);
        match kind.as_str() {
            "list" | "zset" => read.arg(0).arg(-1),
            "stream" => read.arg("-").arg("+"),
            _ => &mut read,
        };
        let value: redis::Value = read.query_async(&mut conn).await.unwrap();
        dump.push((key, readable(&value)));
    }
    dump
}

/// Every string inside `value`, binary ones (an earn receipt's bucket value) read as UTF-8 where
/// they can be, so a number stored among binary fields is still found.
fn readable(value: &redis::Value) -> String {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().map(readable).collect::<Vec<_>>().join(" | ")
        }
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn erasure_leaves_nothing_personal_keeps_totals_and_consent_and_suppresses_the_number() {
    let app = spawn_app_with(|s| {
        s.campaigns.track_links = true;
        s.links.base_url = Some("https://lg.example".into());
    })
    .await;
    twilio_accepts_everything(&app).await;
    // In the afternoon in California, so the campaign goes out without moving the clock.
    tomorrow_at(&app, 22);
    // A member with a name, purchases, a refund, a reward code, texts and a campaign's link.
    app.text(PHONE, "JOIN").await;
    app.text(PHONE, "NAME Zelda").await;
    app.earn_ok(PHONE, 120_000, "R-1").await;
    // A plain purchase's receipt is a field of a bucket (lib.lua's Receipts), not a key.
    app.earn_ok(PHONE, 500, "R-plain").await;
    let refund = app
        .reverse(
            json!({ "location": "store-12", "receipt": "R-1", "amount": 1000, "refund_id": "F1" }),
        )
        .await;
    assert_eq!(refund.status(), 200);
    app.text(PHONE, "REDEEM r5").await;
    let campaign: Value = app
        .post(
            "/v1/campaigns",
            MARKETING_KEY,
            &json!({ "name": "Visit", "body": "Hi {{ first_name }}: https://bloom.example/menu" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = campaign["id"].as_str().unwrap();
    app.post(
        &format!("/v1/campaigns/{id}/send"),
        MARKETING_KEY,
        &json!({}),
    )
    .await;
    app.drain_campaigns().await;
    app.drain_outbox().await;
    // Every text delivered, so their records are final and kept short (the campaign's keeps
    // only its link's token) before the erasure.
    let texts: Vec<Value> = app
        .get(
            &format!("/v1/members/{}/messages", urlencode(PHONE)),
            ADMIN_KEY,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(texts.len() >= 4, "{texts:?}");
    for text in &texts {
        let sid = text["provider_id"].as_str().unwrap();
        assert_eq!(app.status_callback(sid, "delivered").await.status(), 200);
    }
    let national = &PHONE[2..];
    let personal = |text: &str| text.contains(national) || text.contains("Zelda");
    assert!(everything_stored(&app)
        .await
        .iter()
        .any(|(k, v)| personal(k) || personal(v)));
    let stats_key = format!("{}:{{bloom}}:stats", app.prefix);
    let counters = |stored: HashMap<String, i64>| {
        let c = loyalty_gateway::stats::program_counters(&stored);
        let get = |name: &str| c.get(name).copied().unwrap_or(0);
        (
            get("points:issued"),
            get("members:erased"),
            get("members:active"),
        )
    };
    let stored: HashMap<String, i64> = redis::cmd("HGETALL")
        .arg(&stats_key)
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
    let (issued_before, _, _) = counters(stored);
    assert!(issued_before > 0);

    assert_eq!(erase(&app, PHONE).await.status(), 204);

    let left: Vec<_> = everything_stored(&app)
        .await
        .into_iter()
        .filter(|(k, v)| personal(k) || personal(v))
        .collect();
    assert!(left.is_empty(), "personal data left: {left:#?}");
    assert_problem(app.member(PHONE).await, 404, "member-not-found").await;
    let mut conn = app.redis().await;
    let stored: HashMap<String, i64> = redis::cmd("HGETALL")
        .arg(&stats_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(counters(stored), (issued_before, 1, 0));
    // The consent record is kept (the law asks for proof of opt-in and opt-out).
    let consent: Value = app.consent_json(PHONE).await;
    assert_eq!(consent["status"], "erased");
    let actions: Vec<&str> = consent["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"erased"));
    assert!(actions.contains(&"opt_in"), "{actions:?}");
    assert_problem(erase(&app, PHONE).await, 404, "member-not-found").await;

    // Back at a till, the number is not texted: not even the request to reply YES.
    let texts_before = app.texts_to(PHONE).await.len();
    let earned = app.earn_ok(PHONE, 1000, "R-2").await;
    assert_eq!(earned["status"], "opted_out");
    assert_eq!(app.deliver_to(PHONE).await.len(), texts_before);
    // Texting a join keyword is the number's own consent again.
    app.text(PHONE, "JOIN").await;
    assert_eq!(app.member_json(PHONE).await["status"], "active");
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), texts_before + 1);
    assert!(texts.last().unwrap().contains("Bloom Rewards"), "{texts:?}");
}
