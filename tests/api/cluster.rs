//! The scripts on Redis Cluster. Every flow runs against a node in cluster mode, and afterwards
//! every key written must hash to the program's slot: a script may only touch keys of the slot
//! of its declared key, so one key outside it would break the gateway on a real cluster. (A
//! single node owning every slot lets scripts cross slots, so the slots are checked directly.)

use serde_json::json;

use loyalty_gateway::embedded::{free_port, RedisServer};

use crate::helpers::*;

const PHONE: &str = "+14155552671";

async fn single_node_cluster(dir: &std::path::Path) -> RedisServer {
    let port = free_port().unwrap();
    let server = RedisServer::start_with(
        port,
        dir,
        false,
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ],
    )
    .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query_async(&mut conn)
        .await
        .unwrap();
    // The node declares the cluster usable on its next cron tick (~100 ms): poll its own
    // report, as the harness polls a starting redis-server, with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await
            .unwrap();
        if info.contains("cluster_state:ok") {
            return server;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the single-node cluster never reported cluster_state:ok");
}

#[tokio::test]
async fn every_script_runs_on_redis_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let redis = single_node_cluster(dir.path()).await;
    let app = spawn_app_on(&redis.url(), |_| {}).await;
    // Texts to one number fail until they are dead-lettered; every other text is accepted.
    twilio_send()
        .and(wiremock::matchers::body_string_contains(
            "To=%2B14155550100",
        ))
        .respond_with(twilio_error(503, 20500, "unavailable"))
        .with_priority(1)
        .mount(&app.twilio)
        .await;
    twilio_accepts_everything(&app).await;

    // Inbound commands (prelude + each command's script).
    for text in [
        "JOIN", "BAL", "REWARDS", "NAME Ana", "LANG es", "LANG en", "hello", "HELP",
    ] {
        app.text(PHONE, text).await;
    }
    // POS: earn with auto-issue, redeem by reward and by code, reverse, reads.
    let earned = app.earn_ok(PHONE, 600_000, "R-1").await;
    let code = earned["rewards_issued"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_code = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "code": code }))
        .await;
    assert_eq!(by_code.status(), 200);
    let by_reward = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-2", "reward": "r5" }))
        .await;
    assert_eq!(by_reward.status(), 200);
    app.text(PHONE, "REDEEM r5").await;
    assert_eq!(
        app.reverse(json!({ "location": "store-12", "receipt": "R-1" }))
            .await
            .status(),
        200
    );
    // welcome, earn, reward_issued, redeem (code), redeem (r5), reverse; the texted REDEEM r5
    // found 50 points and changed nothing.
    let history = app.history(PHONE).await;
    let kinds: Vec<&str> = history
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "reverse",
            "redeem",
            "redeem",
            "reward_issued",
            "earn",
            "welcome"
        ]
    );
    // Partial refunds and voids.
    let earned = app.earn_ok(PHONE, 100_000, "R-2").await;
    assert_eq!(earned["points"], 1000);
    let partial = app
        .reverse(
            json!({ "location": "store-12", "receipt": "R-2", "amount": 100, "refund_id": "A" }),
        )
        .await;
    assert_eq!(partial.status(), 200);
    let voided = app
        .post(
            "/v1/redeem/void",
            POS_KEY,
            &json!({ "location": "store-12", "receipt": "T-2" }),
        )
        .await;
    assert_eq!(voided.status(), 200);
    // Outbound: prepare, GCRA, finish, status callback, promote.
    assert!(app.drain_outbox().await > 5);
    let sid = app.message("m1").await["provider_id"].clone();
    assert_eq!(app.status_callback(&sid, "delivered").await.status(), 200);
    // A marketing text at night is deferred; an operator text is enqueued directly.
    let program = app.bloom();
    let phone = loyalty_gateway::domain::PhoneNumber::parse_e164(PHONE).unwrap();
    // 23:00 in San Francisco, a day on (the clock only moves forward: send schedules are kept
    // in its time).
    let night = (chrono::Utc::now() + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(7, 0, 0)
        .unwrap()
        .and_utc();
    app.clock.set(night);
    let marketing = app
        .state
        .outbox
        .enqueue(
            &program,
            &phone,
            loyalty_gateway::store::scripts::outbox::MessageKind::Marketing,
            "campaign",
            &json!({ "body": "{{ program }}: hello. Reply STOP to opt out" }),
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    app.drain_outbox().await;
    assert_eq!(app.message(&marketing).await["status"], "deferred");
    // A text that fails until it is dead-lettered, then requeued.
    app.earn_ok("+14155550100", 1250, "R-3").await;
    for _ in 0..4 {
        app.drain_outbox().await;
        app.clock.advance(chrono::Duration::seconds(300));
    }
    let dead = app.get("/v1/dead-letters", ADMIN_KEY).await;
    let dead: Vec<serde_json::Value> = dead.json().await.unwrap();
    let dead_id = dead[0]["id"].as_str().unwrap().to_owned();
    let requeued = app
        .post(
            &format!("/v1/dead-letters/{dead_id}/requeue"),
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(requeued.status(), 202);
    // STOP, then START.
    app.text(PHONE, "STOP").await;
    app.drain_outbox().await;
    let member = app.member_json(PHONE).await;
    assert_eq!(member["status"], "opted_out");
    assert_eq!(member["first_name"], "Ana");
    let texts = app.texts_to(PHONE).await;
    assert!(texts.last().unwrap().contains("unsubscribed"), "{texts:?}");
    app.text(PHONE, "START").await;
    assert_eq!(app.member_json(PHONE).await["status"], "active");

    let client = redis::Client::open(redis.url()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let slot = |key: String| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
                .unwrap()
        }
    };
    let program_slot = slot(format!("{}:{{bloom}}:", app.prefix)).await;
    let keys = app.keys().await;
    assert!(keys.len() > 15, "the flows wrote {} keys", keys.len());
    for key in keys {
        assert_eq!(
            slot(key.clone()).await,
            program_slot,
            "{key} is outside the program's slot"
        );
    }
}
