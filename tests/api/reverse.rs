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
    let reversed = app
        .reverse(json!({ "location": "store-12", "receipt": "R-1" }))
        .await;
    assert_eq!(reversed.status(), 200);
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

async fn refund(app: &TestApp, body: Value) -> (u16, Value, bool) {
    let response = app.reverse(body).await;
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (status, response.json().await.unwrap(), replayed)
}

#[tokio::test]
async fn partial_refunds_take_back_the_proportional_points_until_the_receipt_is_used_up() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 10_000, "R-1").await; // 100 points
    let partial = |id: &str, amount: i64| json!({ "location": "store-12", "receipt": "R-1", "refund_id": id, "amount": amount });
    let (status, first, _) = refund(&app, partial("A", 2500)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (
            &first["points"],
            &first["amount"],
            &first["refunded"],
            &first["remaining"]
        ),
        (&json!(-25), &json!(2500), &json!(2500), &json!(7500))
    );
    assert_eq!(first["balance"], 75);
    let (status, again, replayed) = refund(&app, partial("A", 2500)).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, first);
    let conflict = app.reverse(partial("A", 100)).await;
    assert_problem(conflict, 409, "refund-conflict").await;

    // Cumulative rounding: 58 points for 58.33 % of the purchase, so 33 now.
    let (_, second, _) = refund(&app, partial("B", 3333)).await;
    assert_eq!(second["points"], -33);
    let too_much = app.reverse(partial("C", 5000)).await;
    let problem = assert_problem(too_much, 409, "refund-exceeds-receipt").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("4167"),
        "{problem}"
    );

    // The rest: exactly what is left, and then nothing more.
    let rest = json!({ "location": "store-12", "receipt": "R-1" });
    let (_, last, _) = refund(&app, rest.clone()).await;
    assert_eq!(
        (&last["points"], &last["remaining"]),
        (&json!(-42), &json!(0))
    );
    let (status, _, replayed) = refund(&app, rest).await;
    assert_eq!((status, replayed), (200, true));
    assert_problem(
        app.reverse(partial("D", 1)).await,
        409,
        "nothing-left-to-refund",
    )
    .await;

    let member = app.member_json(PHONE).await;
    assert_eq!(
        (&member["balance"], &member["lifetime_points"]),
        (&json!(0), &json!(0))
    );
    let history = app.history(PHONE).await;
    let refunds: Vec<(i64, &str)> = history
        .iter()
        .filter(|e| e["type"] == "reverse")
        .map(|e| {
            (
                e["points"].as_i64().unwrap(),
                e["refund_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(refunds, [(-42, "rest"), (-33, "B"), (-25, "A")]);
}

#[tokio::test]
async fn partial_refunds_of_an_odd_receipt_add_up_to_exactly_what_it_earned() {
    let app = spawn_app().await;
    let earned = app
        .earn(
            json!({ "phone": PHONE, "amount": 999, "location": "store-12",
            "receipt": "R-1", "tender": "store_card" }),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(earned["points"], 19);
    let mut taken = Vec::new();
    for id in ["X", "Y", "Z"] {
        let (status, body, _) = refund(
            &app,
            json!({ "location": "store-12", "receipt": "R-1", "refund_id": id, "amount": 333 }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        taken.push(body["points"].as_i64().unwrap());
    }
    assert_eq!(taken, [-6, -6, -7]);
    assert_eq!(app.member_json(PHONE).await["balance"], 0);
}

#[tokio::test]
async fn a_partial_refund_needs_its_own_refund_id() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 10_000, "R-1").await;
    let response = app
        .reverse(json!({ "location": "store-12", "receipt": "R-1", "amount": 100 }))
        .await;
    let problem = assert_problem(response, 422, "validation-error").await;
    assert_eq!(problem["field"], "refund_id");
    for (field, value) in [("amount", json!(0)), ("refund_id", json!(""))] {
        let mut body = json!({ "location": "store-12", "receipt": "R-1", "amount": 100,
            "refund_id": "A" });
        body[field] = value;
        let problem = assert_problem(app.reverse(body).await, 422, "validation-error").await;
        assert_eq!(problem["field"], field);
    }
    assert_eq!(app.member_json(PHONE).await["balance"], 100);
}

async fn void(app: &TestApp, receipt: &str) -> reqwest::Response {
    app.post(
        "/v1/redeem/void",
        POS_KEY,
        &json!({ "location": "store-12", "receipt": receipt }),
    )
    .await
}

#[tokio::test]
async fn voiding_a_reward_redemption_gives_the_points_back_once() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 150_000, "R-1").await; // 1,500 points
    let redeemed = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "reward": "r5" }))
        .await;
    assert_eq!(redeemed.status(), 200);
    assert_eq!(app.member_json(PHONE).await["balance"], 500);
    let response = void(&app, "T-1").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["balance"], 1500);
    assert_eq!(body["voided"]["reward"], "r5");
    assert_eq!(body["voided"]["points"], 1000);
    let again = void(&app, "T-1").await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), body);
    assert_eq!(app.member_json(PHONE).await["balance"], 1500);
    assert_eq!(app.history(PHONE).await[0]["type"], "void");
    assert_problem(void(&app, "T-404").await, 404, "receipt-not-found").await;
}

#[tokio::test]
async fn voiding_a_code_redemption_makes_the_code_usable_again() {
    let app = spawn_app().await;
    let earned = app.earn_ok(PHONE, 500_000, "R-1").await;
    let code = earned["rewards_issued"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let redeem = |receipt: &str| json!({ "phone": PHONE, "location": "store-12", "receipt": receipt, "code": code });
    assert_eq!(app.redeem(redeem("T-1")).await.status(), 200);
    assert!(app.member_json(PHONE).await["rewards"]
        .as_array()
        .unwrap()
        .is_empty());
    let body: Value = void(&app, "T-1").await.json().await.unwrap();
    assert_eq!(body["voided"]["code"], code);
    assert_eq!(
        app.history(PHONE).await[0]["code"],
        code,
        "the display form"
    );
    assert_eq!(app.member_json(PHONE).await["rewards"][0]["code"], code);
    assert_eq!(
        app.redeem(redeem("T-2")).await.status(),
        200,
        "usable again"
    );
    assert_problem(app.redeem(redeem("T-3")).await, 409, "code-already-used").await;
}

#[tokio::test]
async fn a_purchase_that_earned_nothing_can_be_refunded_in_part_and_in_full() {
    let app = spawn_app().await;
    assert_eq!(app.earn_ok(PHONE, 99, "R-1").await["points"], 0);
    let (status, partial, _) = refund(
        &app,
        json!({ "location": "store-12", "receipt": "R-1", "refund_id": "A", "amount": 1 }),
    )
    .await;
    assert_eq!(status, 200, "{partial}");
    assert_eq!(partial["points"], 0);
    let (status, rest, _) = refund(&app, json!({ "location": "store-12", "receipt": "R-1" })).await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(
        (&rest["refunded"], &rest["remaining"]),
        (&json!(99), &json!(0))
    );
    assert_eq!(app.member_json(PHONE).await["balance"], 0);
}
