use serde_json::json;

use crate::helpers::*;

fn earn_at(location: &str) -> serde_json::Value {
    json!({ "phone": "+14155552671", "amount": 1250, "location": location, "receipt": "R-1" })
}

#[tokio::test]
async fn a_missing_or_unknown_key_is_401() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/earn"))
        .json(&earn_at("store-12"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401, "unauthorized").await;
    assert_problem(
        app.post("/v1/earn", "wrong-key", &earn_at("store-12"))
            .await,
        401,
        "unauthorized",
    )
    .await;
    let basic = app
        .client
        .post(app.url("/v1/earn"))
        .header("Authorization", format!("Basic {POS_KEY}"))
        .json(&earn_at("store-12"))
        .send()
        .await
        .unwrap();
    assert_problem(basic, 401, "unauthorized").await;
    assert!(app.keys().await.is_empty(), "nothing may be written");
}

#[tokio::test]
async fn a_key_without_the_pos_scope_is_403() {
    let app = spawn_app().await;
    let response = app
        .post("/v1/earn", MARKETING_KEY, &earn_at("store-12"))
        .await;
    assert_problem(response, 403, "forbidden").await;
    let response = app.get("/v1/members/+14155552671", MARKETING_KEY).await;
    assert_problem(response, 403, "forbidden").await;
    assert!(app.keys().await.is_empty());
}

#[tokio::test]
async fn an_admin_key_may_act_as_a_till() {
    let app = spawn_app().await;
    assert_eq!(
        app.post("/v1/earn", ADMIN_KEY, &earn_at("store-12"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_key_limited_to_a_location_may_act_only_there() {
    let app = spawn_app().await;
    let elsewhere = app
        .post("/v1/earn", DOWNTOWN_KEY, &earn_at("store-7"))
        .await;
    assert_problem(elsewhere, 403, "forbidden").await;
    assert!(app.keys().await.is_empty());
    let here = app
        .post("/v1/earn", DOWNTOWN_KEY, &earn_at("store-12"))
        .await;
    assert_eq!(here.status(), 200);
    let reverse = app
        .post(
            "/v1/reverse",
            DOWNTOWN_KEY,
            &json!({ "location": "store-7", "receipt": "R-1" }),
        )
        .await;
    assert_problem(reverse, 403, "forbidden").await;
}

#[test]
fn key_lookup_matches_only_the_exact_key() {
    use loyalty_gateway::auth::find_key;
    use loyalty_gateway::configuration::parse_str;
    let settings = parse_str(&config_toml(
        "redis://127.0.0.1:1/0",
        "p",
        "http://127.0.0.1:1",
    ))
    .unwrap();
    assert_eq!(find_key(&settings.api_keys, POS_KEY).unwrap().name, "pos");
    assert_eq!(
        find_key(&settings.api_keys, ADMIN_KEY).unwrap().name,
        "admin"
    );
    assert!(find_key(&settings.api_keys, "test-pos-ke").is_none());
    assert!(find_key(&settings.api_keys, "").is_none());
}
