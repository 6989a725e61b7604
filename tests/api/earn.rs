use serde_json::json;

use crate::helpers::*;

const PHONE: &str = "+14155552671";

#[tokio::test]
async fn earn_credits_one_point_per_whole_dollar_rounding_down() {
    let app = spawn_app().await;
    let body = app.earn_ok("(415) 555-2671", 1250, "R-1").await;
    assert_eq!(body["phone"], PHONE);
    assert_eq!(body["points"], 12);
    assert_eq!(body["balance"], 12);
    assert_eq!(body["lifetime_points"], 12);
    assert_eq!(body["tier"], "member");
    let body = app.earn_ok(PHONE, 99, "R-2").await;
    assert_eq!(body["points"], 0);
    assert_eq!(body["balance"], 12);
    let body = app.earn_ok(PHONE, 1999, "R-3").await;
    assert_eq!(body["points"], 19);
    assert_eq!(body["balance"], 31);
}

#[tokio::test]
async fn the_store_card_tender_doubles_points() {
    let app = spawn_app().await;
    let response = app
        .earn(
            json!({ "phone": PHONE, "amount": 1250, "location": "store-12",
            "receipt": "R-1", "tender": "store_card" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["points"], 25);
}

#[tokio::test]
async fn an_unknown_tender_is_rejected_and_credits_nothing() {
    let app = spawn_app().await;
    let response = app
        .earn(
            json!({ "phone": PHONE, "amount": 1250, "location": "store-12",
            "receipt": "R-1", "tender": "bitcoin" }),
        )
        .await;
    let problem = assert_problem(response, 422, "validation-error").await;
    assert_eq!(problem["field"], "tender");
    assert_eq!(app.member(PHONE).await.status(), 404);
}

#[tokio::test]
async fn the_gold_tier_multiplier_applies_once_lifetime_points_reach_it() {
    let app = spawn_app().await;
    // 10,000 points at the member tier: the earn itself is at 1x, and lifts the member to gold.
    let body = app.earn_ok(PHONE, 1_000_000, "R-1").await;
    assert_eq!(body["points"], 10_000);
    assert_eq!(body["tier"], "gold");
    // $10 at gold (1.25x) is 12.5 points, floored.
    let body = app.earn_ok(PHONE, 1000, "R-2").await;
    assert_eq!(body["points"], 12);
    assert_eq!(body["lifetime_points"], 10_012);
}

#[tokio::test]
async fn crossing_an_auto_issue_threshold_spends_the_points_on_a_code() {
    let app = spawn_app().await;
    let below = app.earn_ok(PHONE, 499_000, "R-1").await;
    assert_eq!(below["balance"], 4990);
    assert_eq!(below["rewards_issued"], serde_json::json!([]));
    let body = app.earn_ok(PHONE, 2_500, "R-2").await;
    assert_eq!(body["points"], 25);
    assert_eq!(body["balance"], 4990 + 25 - 5000);
    let issued = body["rewards_issued"].as_array().unwrap();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["reward"], "r25");
    assert_eq!(issued[0]["description"], "$25 reward card");
    let code = issued[0]["code"].as_str().unwrap();
    assert_eq!(code.len(), 9, "display form XXXX-XXXX: {code}");
    assert!(issued[0]["expires_at"].as_str().unwrap().ends_with('Z'));
    let member = app.member_json(PHONE).await;
    assert_eq!(member["balance"], body["balance"]);
    assert_eq!(member["lifetime_points"], 5015);
    assert_eq!(member["rewards"][0]["code"], code);
}

#[tokio::test]
async fn a_large_purchase_issues_one_code_per_threshold_crossed() {
    let app = spawn_app().await;
    let body = app.earn_ok(PHONE, 1_200_000, "R-1").await;
    assert_eq!(body["points"], 12_000);
    assert_eq!(body["rewards_issued"].as_array().unwrap().len(), 2);
    assert_eq!(body["balance"], 2_000);
    let codes: Vec<_> = body["rewards_issued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect();
    assert_ne!(codes[0], codes[1]);
}

#[tokio::test]
async fn an_unknown_phone_is_enrolled_pending_and_asked_once_to_reply_yes() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    let body = app.earn_ok(PHONE, 1250, "R-1").await;
    assert_eq!(body["status"], "pending");
    app.earn_ok(PHONE, 1250, "R-2").await;
    app.drain_outbox().await;
    let texts = app.sent_texts().await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].0, PHONE);
    assert!(texts[0].1.contains("Reply YES"), "{}", texts[0].1);
    assert!(texts[0].1.contains("STOP"));
}

#[tokio::test]
async fn a_replayed_receipt_returns_the_first_response_and_credits_nothing() {
    let app = spawn_app().await;
    let request =
        json!({ "phone": PHONE, "amount": 1250, "location": "store-12", "receipt": "R-1" });
    let first = app.earn(request.clone()).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: serde_json::Value = first.json().await.unwrap();
    let again = app.earn(request).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(first, again);
    assert_eq!(app.member_json(PHONE).await["balance"], 12);
    assert_eq!(app.history(PHONE).await.len(), 1);
}

/// The receipt keeps what the answer is made of, not the answer: the replay rebuilds it, the
/// reward codes it issued included.
#[tokio::test]
async fn a_replay_rebuilds_the_first_answer_whole_with_the_rewards_it_issued() {
    let app = spawn_app().await;
    let request = json!({ "phone": PHONE, "amount": 1_250_000, "location": "store-12",
        "receipt": "R-big", "tender": "store_card" });
    let first: serde_json::Value = app.earn(request.clone()).await.json().await.unwrap();
    assert!(
        !first["rewards_issued"].as_array().unwrap().is_empty(),
        "{first}"
    );
    app.earn_ok(PHONE, 1250, "R-2").await;
    let again = app.earn(request).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(first, again, "the answer of the time, not the balance now");
    // The rewards issued do not fit a bucket's fixed-width value (lib.lua's Receipts): that
    // receipt has a key of its own, and the plain one lives in a bucket.
    let keys = loyalty_gateway::store::ProgramKeys::new(&app.prefix, &app.bloom().id);
    let mut conn = app.redis().await;
    let own: (bool, bool) = redis::pipe()
        .exists(keys.earn_receipt("store-12", "R-big"))
        .exists(keys.earn_receipt("store-12", "R-2"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(own, (true, false));
    let in_buckets: u64 = redis::cmd("HLEN")
        .arg(keys.receipt_bucket(0))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(in_buckets, 1);
}

#[tokio::test]
async fn the_same_receipt_with_a_different_body_is_a_conflict() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    let response = app
        .earn(json!({ "phone": PHONE, "amount": 9999, "location": "store-12", "receipt": "R-1" }))
        .await;
    assert_problem(response, 409, "receipt-conflict").await;
    assert_eq!(app.member_json(PHONE).await["balance"], 12);
}

#[tokio::test]
async fn the_same_receipt_number_at_another_location_is_another_purchase() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    let response = app
        .earn(json!({ "phone": PHONE, "amount": 1250, "location": "store-7", "receipt": "R-1" }))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.member_json(PHONE).await["balance"], 24);
}

#[tokio::test]
async fn fifty_concurrent_duplicates_credit_once() {
    let app = spawn_app().await;
    let request =
        json!({ "phone": PHONE, "amount": 1250, "location": "store-12", "receipt": "R-1" });
    let responses =
        futures_util::future::join_all((0..50).map(|_| app.earn(request.clone()))).await;
    let mut fresh = 0;
    let mut bodies = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        if response.headers().get("idempotent-replayed").is_none() {
            fresh += 1;
        }
        bodies.push(response.json::<serde_json::Value>().await.unwrap());
    }
    assert_eq!(fresh, 1);
    assert!(bodies.iter().all(|b| b == &bodies[0]));
    assert_eq!(app.member_json(PHONE).await["balance"], 12);
    assert_eq!(app.history(PHONE).await.len(), 1);
}

#[tokio::test]
async fn two_hundred_concurrent_earns_for_one_member_lose_no_update() {
    let app = spawn_app().await;
    let responses = futures_util::future::join_all((0..200).map(|i| {
        app.earn(
            json!({ "phone": PHONE, "amount": 100 + i, "location": "store-12",
            "receipt": format!("R-{i}") }),
        )
    }))
    .await;
    assert!(responses.iter().all(|r| r.status() == 200));
    let member = app.member_json(PHONE).await;
    // Every amount is between $1.00 and $2.99, so each earns floor(amount / 100) points.
    let expected: i64 = (0..200).map(|i: i64| (100 + i) / 100).sum();
    assert_eq!(member["lifetime_points"], expected);
    assert_eq!(member["visits"], 200);
    let history: Vec<serde_json::Value> = app
        .get(
            &format!("/v1/members/{}/history?limit=500", urlencode(PHONE)),
            POS_KEY,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history.len(), 200);
    assert_eq!(
        history
            .iter()
            .map(|e| e["points"].as_i64().unwrap())
            .sum::<i64>(),
        expected
    );
}
