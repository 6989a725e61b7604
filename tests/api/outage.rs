//! Redis goes away mid-run: requests fail fast with 503, and the service recovers by itself.

use std::time::Duration;

use loyalty_gateway::embedded::RedisServer;

use crate::helpers::*;

/// Retries `check` until it holds, for at most ten seconds: waiting for a reconnect that the
/// test cannot observe directly.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_redis_outage_is_503_with_retry_after_and_the_service_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(dir.path(), true).unwrap();
    let app = spawn_app_on(&redis.url(), |_| {}).await;
    app.earn_ok("+14155552671", 1250, "R-1").await;

    redis.stop();
    let response = app
        .earn(serde_json::json!({ "phone": "+14155552671", "amount": 1250,
        "location": "store-12", "receipt": "R-2" }))
        .await;
    assert_eq!(response.headers()["retry-after"], "2");
    let problem = assert_problem(response, 503, "service-unavailable").await;
    assert!(!problem["detail"].as_str().unwrap().contains("redis://"));
    assert_problem(
        app.client.get(app.url("/readyz")).send().await.unwrap(),
        503,
        "service-unavailable",
    )
    .await;
    assert_problem(app.member("+14155552671").await, 503, "service-unavailable").await;

    redis.restart().unwrap();
    let ready = eventually(|| async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
    assert!(ready, "the service did not reconnect");
    // The append-only file kept the balance; the failed earn wrote nothing.
    assert_eq!(app.member_json("+14155552671").await["balance"], 12);
    app.earn_ok("+14155552671", 1250, "R-2").await;
    assert_eq!(app.member_json("+14155552671").await["balance"], 24);
}
