use serde_json::json;

use crate::helpers::*;

const PHONE: &str = "+14155552671";

#[tokio::test]
async fn a_member_shows_balance_tier_visits_and_first_name() {
    let app = spawn_app().await;
    let first = app
        .earn(
            json!({ "phone": PHONE, "amount": 1250, "location": "store-12", "receipt": "R-1",
        "first_name": "Ana" }),
        )
        .await;
    assert_eq!(first.status(), 200);
    app.earn_ok(PHONE, 2000, "R-2").await;
    let member = app.member_json("415.555.2671").await;
    assert_eq!(member["phone"], PHONE);
    assert_eq!(member["first_name"], "Ana");
    assert_eq!(member["status"], "pending");
    assert_eq!(member["balance"], 32);
    assert_eq!(member["lifetime_points"], 32);
    assert_eq!(member["tier"], "member");
    assert_eq!(member["visits"], 2);
    assert!(member["joined_at"].as_str().unwrap().ends_with('Z'));
    assert!(member["last_visit_at"].is_string());
    assert_eq!(member["rewards"], json!([]));
}

#[tokio::test]
async fn an_unknown_member_is_not_found_and_an_invalid_number_is_422() {
    let app = spawn_app().await;
    assert_problem(app.member(PHONE).await, 404, "member-not-found").await;
    let problem = assert_problem(app.member("123-456-7890").await, 422, "validation-error").await;
    assert_eq!(problem["field"], "phone");
    let response = app
        .get(
            &format!("/v1/members/{}/history", urlencode(PHONE)),
            POS_KEY,
        )
        .await;
    assert_problem(response, 404, "member-not-found").await;
}

#[tokio::test]
async fn history_lists_every_entry_newest_first_with_what_caused_it() {
    let app = spawn_app().await;
    let earned = app
        .earn(
            json!({ "phone": PHONE, "amount": 499_000, "location": "store-7", "receipt": "R-1",
        "tender": "store_card" }),
        )
        .await;
    assert_eq!(earned.status(), 200);
    let history = app.history(PHONE).await;
    // 9,980 points: one $25 code is issued after the earn.
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["type"], "reward_issued");
    assert_eq!(history[0]["points"], -5000);
    assert_eq!(history[0]["balance"], 4980);
    assert_eq!(history[1]["type"], "earn");
    assert_eq!(history[1]["points"], 9980);
    assert_eq!(history[1]["amount"], 499_000);
    assert_eq!(history[1]["location"], "store-7");
    assert_eq!(history[1]["receipt"], "R-1");
    assert_eq!(history[1]["tender"], "store_card");
    let limited: Vec<serde_json::Value> = app
        .get(
            &format!("/v1/members/{}/history?limit=1", urlencode(PHONE)),
            POS_KEY,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    let bad = app
        .get(
            &format!("/v1/members/{}/history?limit=0", urlencode(PHONE)),
            POS_KEY,
        )
        .await;
    assert_problem(bad, 422, "validation-error").await;
}

#[tokio::test]
async fn programs_are_isolated_from_each_other() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    let response = app
        .get(
            &format!("/v1/members/{}", urlencode(PHONE)),
            OTHER_PROGRAM_KEY,
        )
        .await;
    assert_problem(response, 404, "member-not-found").await;
}
