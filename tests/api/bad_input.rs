//! Every class of bad request gets a specific problem and changes nothing.

use serde_json::json;

use crate::helpers::*;

fn valid() -> serde_json::Value {
    json!({ "phone": "+14155552671", "amount": 1250, "location": "store-12", "receipt": "R-1" })
}

fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut body = valid();
    body[field] = value;
    body
}

#[tokio::test]
async fn invalid_fields_are_422_naming_the_field_and_store_nothing() {
    let app = spawn_app().await;
    let cases = [
        (with("phone", json!("123-456-7890")), "phone"),
        (with("phone", json!("call me")), "phone"),
        (with("phone", json!(14155552671u64)), "phone"),
        (with("amount", json!(-5)), "amount"),
        (with("amount", json!(0)), "amount"),
        (with("amount", json!(12.5)), "amount"),
        (with("amount", json!("1250")), "amount"),
        (with("amount", json!(100_000_000_000i64)), "amount"),
        (with("location", json!("store-99")), "location"),
        (with("location", json!("a:b")), "location"),
        (with("receipt", json!("")), "receipt"),
        (with("receipt", json!("x".repeat(129))), "receipt"),
        (with("receipt", json!("line\nbreak")), "receipt"),
        (with("first_name", json!("x".repeat(51))), "first_name"),
        // The programs' own numbers, however written.
        (with("phone", json!(SENDER)), "phone"),
        (with("phone", json!("(500) 555-0007")), "phone"),
        // Text that merely contains a number is not a number.
        (with("phone", json!("+1 415 555 2671\u{0000}")), "phone"),
        (
            with("phone", json!("\u{202E}+14155552671\u{202C}")),
            "phone",
        ),
        (with("phone", json!("../+14155552671")), "phone"),
        (with("phone", json!("+14155552671/../../admin")), "phone"),
        (
            json!({ "amount": 1250, "location": "store-12", "receipt": "R-1" }),
            "phone",
        ),
        (
            json!({ "phone": "+14155552671", "location": "store-12", "receipt": "R-1" }),
            "amount",
        ),
    ];
    for (body, field) in cases {
        let response = app.earn(body.clone()).await;
        let problem = assert_problem(response, 422, "validation-error").await;
        assert_eq!(problem["field"], field, "{body}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.starts_with(field), "{detail}");
    }
    assert!(
        app.keys().await.is_empty(),
        "a bad request must write nothing"
    );
}

#[tokio::test]
async fn a_body_of_the_fields_in_an_array_is_not_an_object() {
    let app = spawn_app().await;
    let positional = json!(["+14155552671", 1250, "store-12", "R-1", null, null]);
    let problem = assert_problem(app.earn(positional).await, 422, "validation-error").await;
    assert_eq!(problem["field"], "body");
    assert!(app.keys().await.is_empty());
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    for raw in ["{", "not json", r#"{"phone": "+14155552671",}"#, ""] {
        let response = app
            .client
            .post(app.url("/v1/earn"))
            .bearer_auth(POS_KEY)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "malformed-json").await;
    }
    assert!(app.keys().await.is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415_and_a_huge_one_is_413() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/earn"))
        .bearer_auth(POS_KEY)
        .header("content-type", "text/plain")
        .body(valid().to_string())
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported-media-type").await;
    let mut huge = valid();
    huge["first_name"] = json!("x".repeat(70 * 1024));
    let response = app.earn(huge).await;
    assert_problem(response, 413, "payload-too-large").await;
    assert!(app.keys().await.is_empty());
}

#[tokio::test]
async fn unknown_routes_and_bad_queries_are_problems_too() {
    let app = spawn_app().await;
    assert_problem(app.get("/v1/nothing-here", POS_KEY).await, 404, "not-found").await;
    let response = app
        .get("/v1/members/+14155552671/history?limit=lots", POS_KEY)
        .await;
    assert_problem(response, 422, "validation-error").await;
}

#[tokio::test]
async fn errors_never_leak_internals() {
    let app = spawn_app().await;
    let response = app.earn(with("amount", json!("DROP TABLE"))).await;
    assert_eq!(response.status(), 422);
    let text = response.text().await.unwrap();
    for secret in [AUTH_TOKEN, "redis://", "panicked", "at src/"] {
        assert!(!text.contains(secret), "{text}");
    }
    // A real internal error: the member's key holds the wrong type, so the earn script fails
    // inside Redis. The client learns that something went wrong, not what.
    app.earn_ok("+14155552671", 1250, "R-1").await;
    let mut conn = app.redis().await;
    let member_key = format!("{}:{{bloom}}:m:+14155552671", app.prefix);
    let _: () = redis::cmd("DEL")
        .arg(&member_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&member_key)
        .arg("not a list")
        .query_async(&mut conn)
        .await
        .unwrap();
    let response = app.earn(with("receipt", json!("R-2"))).await;
    let problem = assert_problem(response, 500, "internal-error").await;
    let text = problem.to_string();
    for internal in ["WRONGTYPE", "script", "member", "lua", &app.prefix, "redis"] {
        assert!(
            !text.to_lowercase().contains(&internal.to_lowercase()),
            "{text}"
        );
    }
}
