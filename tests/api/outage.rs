//! Redis goes away mid-run: requests fail fast with 503, and the service recovers by itself.

use std::time::Duration;

use loyalty_gateway::embedded::RedisServer;

use crate::helpers::*;

/// Retries `check` until it holds, for at most ten seconds: waiting for a reconnect that the
/// test cannot observe directly.
pub async fn eventually<F, Fut>(mut check: F) -> bool
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
    // The operator's view: Redis down, and the failed calls counted.
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "loyalty_redis_up", &[]), Some(0.0));
    assert!(
        sample(
            &text,
            "loyalty_redis_errors_total",
            &[("op", "earn"), ("kind", "unavailable")]
        ) >= Some(1.0),
        "{text}"
    );

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

async fn redis_command(url: &str, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await?;
    cmd.query_async(&mut conn).await
}

pub async fn readyz(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn redis_reloading_its_data_is_503_and_the_service_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(dir.path(), false).unwrap();
    let app = spawn_app_on(&redis.url(), |_| {}).await;
    app.earn_ok("+14155552671", 1250, "R-1").await;
    // Enough data that a slowed-down load (key-load-delay, µs per key) takes a few seconds.
    redis_command(
        &redis.url(),
        redis::cmd("EVAL")
            .arg("for i = 1, 5000 do redis.call('SET', 'filler:' .. i, i) end")
            .arg(0),
    )
    .await
    .unwrap();
    redis_command(&redis.url(), &redis::cmd("SAVE"))
        .await
        .unwrap();
    redis
        .restart_with(&[
            "--key-load-delay",
            "500",
            // Answer clients while loading (by default only every 2 MB loaded).
            "--loading-process-events-interval-bytes",
            "1024",
        ])
        .unwrap();

    let loading = redis_command(&redis.url(), &redis::cmd("PING"))
        .await
        .unwrap_err();
    assert_eq!(loading.code(), Some("LOADING"), "the server is reloading");
    let response = app
        .earn(serde_json::json!({ "phone": "+14155552671", "amount": 1250,
            "location": "store-12", "receipt": "R-2" }))
        .await;
    assert_eq!(response.headers()["retry-after"], "2");
    assert_problem(response, 503, "service-unavailable").await;
    assert_eq!(readyz(&app).await, 503);

    assert!(
        eventually(|| async { readyz(&app).await == 200 }).await,
        "the service did not recover once Redis had loaded"
    );
    app.earn_ok("+14155552671", 1250, "R-2").await;
    assert_eq!(app.member_json("+14155552671").await["balance"], 24);
}

#[tokio::test]
async fn redis_busy_with_a_script_is_503_and_the_service_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start_with(
        loyalty_gateway::embedded::free_port().unwrap(),
        dir.path(),
        false,
        &["--busy-reply-threshold", "50"],
    )
    .unwrap();
    let app = spawn_app_on(&redis.url(), |_| {}).await;
    app.earn_ok("+14155552671", 1250, "R-1").await;
    let url = redis.url();
    let runaway = tokio::spawn(async move {
        let _ = redis_command(&url, redis::cmd("EVAL").arg("while true do end").arg(0)).await;
    });
    // Wait until Redis says BUSY to others, as the gateway will see it.
    assert!(
        eventually(|| async {
            redis_command(&redis.url(), &redis::cmd("PING"))
                .await
                .is_err_and(|e| e.code() == Some("BUSY"))
        })
        .await
    );
    let response = app
        .earn(serde_json::json!({ "phone": "+14155552671", "amount": 1250,
            "location": "store-12", "receipt": "R-2" }))
        .await;
    assert_problem(response, 503, "service-unavailable").await;
    assert_eq!(readyz(&app).await, 503);

    redis_command(&redis.url(), redis::cmd("SCRIPT").arg("KILL"))
        .await
        .unwrap();
    runaway.await.unwrap();
    assert!(eventually(|| async { readyz(&app).await == 200 }).await);
    app.earn_ok("+14155552671", 1250, "R-2").await;
}

async fn replication_info(url: &str) -> String {
    match redis_command(url, redis::cmd("INFO").arg("replication")).await {
        Ok(redis::Value::BulkString(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(redis::Value::VerbatimString { text, .. }) => text,
        _ => String::new(),
    }
}

#[tokio::test]
async fn with_replica_acks_an_earn_is_acknowledged_only_once_a_replica_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let master = RedisServer::start(&dir.path().join("master"), false).unwrap();
    let replica_port = loyalty_gateway::embedded::free_port().unwrap();
    let mut replica = RedisServer::start_with(
        replica_port,
        &dir.path().join("replica"),
        false,
        &["--replicaof", "127.0.0.1", &master.port().to_string()],
    )
    .unwrap();
    assert!(
        eventually(|| async {
            replication_info(&replica.url())
                .await
                .contains("master_link_status:up")
        })
        .await
    );
    let app = spawn_app_on(&master.url(), |s| {
        s.redis.min_replicas_acked = 1;
        s.redis.replica_ack_timeout_ms = 200;
    })
    .await;
    app.earn_ok("+14155552671", 1250, "R-1").await;

    // Without its replica, a write cannot be confirmed: 503, though it may have happened...
    replica.stop();
    let earn = serde_json::json!({ "phone": "+14155552671", "amount": 1250,
        "location": "store-12", "receipt": "R-2" });
    let response = app.earn(earn.clone()).await;
    assert_eq!(response.headers()["retry-after"], "2");
    let problem = assert_problem(response, 503, "service-unavailable").await;
    assert!(!problem["detail"].as_str().unwrap().contains("replica"));
    // ...and once the replica is back, the till's retry of the same receipt is answered from
    // the record, credited once.
    replica.restart().unwrap();
    let confirmed = eventually(|| async { app.earn(earn.clone()).await.status() == 200 }).await;
    assert!(confirmed, "the retry was never confirmed");
    let replay = app.earn(earn).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(app.member_json("+14155552671").await["balance"], 24);
}

/// A ledger call fails inside its handler's span, so the line about the failure says which
/// program and which member (masked) it concerns: what an operator searches the logs for.
#[test]
fn a_ledger_call_that_fails_is_logged_with_its_program_and_masked_member() {
    use crate::binary::write_config;
    use crate::shutdown::{poll_until, Serve};

    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(&dir.path().join("redis"), false).unwrap();
    let toml = config_toml(&redis.url(), &unique_prefix(), "http://127.0.0.1:1")
        .replace("provider = \"twilio\"", "provider = \"console\"");
    let serve = Serve::start(
        &write_config(dir.path(), &toml),
        dir.path().join("serve.log"),
    );
    let address = serve.address();
    redis.kill();
    let status = tokio::runtime::Runtime::new().unwrap().block_on(async {
        post_earn_to(&address, "415 555 2671", 2500, "R-1")
            .await
            .status()
    });
    assert_eq!(status, 503);
    poll_until("the line about Redis", || {
        serve.logs().contains("redis unavailable")
    });
    let logs = serve.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("redis unavailable"))
        .unwrap();
    assert!(
        line.contains("earn{")
            && line.contains(r#"program="bloom""#)
            && line.contains("+1********71"),
        "{line}"
    );
    assert!(!logs.contains("4155552671"), "{logs}");
}
