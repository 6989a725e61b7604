use serde_json::{json, Value};

use crate::helpers::*;

const PHONE: &str = "+14155552671";
const OTHER_PHONE: &str = "+14155552672";

async fn member_with_code(app: &TestApp, phone: &str) -> String {
    let body = app.earn_ok(phone, 500_000, &format!("R-{phone}")).await;
    body["rewards_issued"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn redeeming_a_reward_spends_its_points() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 150_000, "R-1").await;
    let response = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "reward": "r5" }))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["balance"], 500);
    assert_eq!(body["redeemed"]["reward"], "r5");
    assert_eq!(body["redeemed"]["description"], "$5 off");
    assert_eq!(body["redeemed"]["points"], 1000);
    let history = app.history(PHONE).await;
    assert_eq!(history[0]["type"], "redeem");
    assert_eq!(history[0]["points"], -1000);
}

#[tokio::test]
async fn too_few_points_is_insufficient_points_and_changes_nothing() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 50_000, "R-1").await;
    let response = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "reward": "r5" }))
        .await;
    assert_problem(response, 409, "insufficient-points").await;
    assert_eq!(app.member_json(PHONE).await["balance"], 500);
    assert_eq!(app.history(PHONE).await.len(), 1);
}

#[tokio::test]
async fn a_code_redeems_once_only() {
    let app = spawn_app().await;
    let code = member_with_code(&app, PHONE).await;
    let response = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "code": code.to_lowercase() }))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["redeemed"]["code"], code);
    assert_eq!(body["redeemed"]["reward"], "r25");
    assert_eq!(body["redeemed"]["points"], 0);
    assert_eq!(app.member_json(PHONE).await["rewards"], json!([]));
    let again = app
        .redeem(json!({ "phone": PHONE, "location": "store-7", "receipt": "T-2", "code": code }))
        .await;
    assert_problem(again, 409, "code-already-used").await;
}

#[tokio::test]
async fn a_replayed_redemption_returns_the_first_response() {
    let app = spawn_app().await;
    let code = member_with_code(&app, PHONE).await;
    let request = json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "code": code });
    let first: Value = app.redeem(request.clone()).await.json().await.unwrap();
    let again = app.redeem(request).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_app().await;
    let code = member_with_code(&app, PHONE).await;
    app.clock.advance(chrono::Duration::days(91));
    let response = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "code": code }))
        .await;
    assert_problem(response, 409, "code-expired").await;
    assert_eq!(app.member_json(PHONE).await["rewards"], json!([]));
}

#[tokio::test]
async fn another_members_code_is_refused() {
    let app = spawn_app().await;
    let code = member_with_code(&app, PHONE).await;
    app.earn_ok(OTHER_PHONE, 100, "R-x").await;
    let response = app
        .redeem(
            json!({ "phone": OTHER_PHONE, "location": "store-12", "receipt": "T-1", "code": code }),
        )
        .await;
    assert_problem(response, 409, "code-belongs-to-another-member").await;
}

#[tokio::test]
async fn a_code_of_another_program_or_none_at_all_is_not_found() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 100, "R-1").await;
    let other = app
        .post(
            "/v1/earn",
            OTHER_PROGRAM_KEY,
            &json!({ "phone": "+447911123456", "amount": 1000, "location": "shop", "receipt": "1" }),
        )
        .await;
    assert_eq!(other.status(), 200);
    let other: Value = other.json().await.unwrap();
    let foreign = other["rewards_issued"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    for code in [foreign.as_str(), "2345-6789"] {
        let response = app
            .redeem(
                json!({ "phone": PHONE, "location": "store-12", "receipt": code, "code": code }),
            )
            .await;
        assert_problem(response, 404, "code-not-found").await;
    }
}

#[tokio::test]
async fn redeeming_for_an_unknown_member_is_not_found() {
    let app = spawn_app().await;
    let response = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "reward": "r5" }))
        .await;
    assert_problem(response, 404, "member-not-found").await;
    assert!(app.keys().await.iter().all(|k| !k.contains(":m:")));
}

#[tokio::test]
async fn reward_and_code_together_or_neither_is_a_validation_error() {
    let app = spawn_app().await;
    for body in [
        json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1" }),
        json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "reward": "r5", "code": "2345-6789" }),
    ] {
        assert_problem(app.redeem(body).await, 422, "validation-error").await;
    }
    let unknown = app
        .redeem(
            json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "reward": "r999" }),
        )
        .await;
    let problem = assert_problem(unknown, 422, "validation-error").await;
    assert_eq!(problem["field"], "reward");
}
