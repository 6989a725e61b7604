use serde_json::{json, Value};

use crate::helpers::*;

const PHONE: &str = "+14155552671";

#[tokio::test]
async fn reversing_a_receipt_removes_exactly_what_it_earned_once() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.earn_ok(PHONE, 3000, "R-2").await;
    let request = json!({ "location": "store-12", "receipt": "R-2" });
    let response = app.reverse(request.clone()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["points"], -30);
    assert_eq!(body["balance"], 12);
    assert_eq!(body["phone"], PHONE);
    let again = app.reverse(request).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), body);
    let member = app.member_json(PHONE).await;
    assert_eq!(member["balance"], 12);
    assert_eq!(member["lifetime_points"], 12);
    let history = app.history(PHONE).await;
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["type"], "reverse");
    assert_eq!(history[0]["receipt"], "R-2");
}

#[tokio::test]
async fn reversing_an_unknown_receipt_is_not_found() {
    let app = spawn_app().await;
    let response = app
        .reverse(json!({ "location": "store-12", "receipt": "nope" }))
        .await;
    assert_problem(response, 404, "receipt-not-found").await;
}

#[tokio::test]
async fn a_replayed_earn_after_its_reversal_does_not_credit_again() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.reverse(json!({ "location": "store-12", "receipt": "R-1" }))
        .await;
    let replay = app.earn_ok(PHONE, 1250, "R-1").await;
    assert_eq!(replay["points"], 12);
    assert_eq!(app.member_json(PHONE).await["balance"], 0);
}

#[tokio::test]
async fn a_refund_after_the_points_were_spent_leaves_a_negative_balance_that_blocks_redemption() {
    let app = spawn_app().await;
    let earned = app.earn_ok(PHONE, 500_000, "R-1").await;
    let code = earned["rewards_issued"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let body: Value = app
        .reverse(json!({ "location": "store-12", "receipt": "R-1" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["balance"], -5000);
    let response = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "code": code }))
        .await;
    assert_problem(response, 409, "insufficient-points").await;
}
