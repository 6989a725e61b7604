//! Fault drills: a crash of Redis under load, a frozen Redis, a provider failing for a while.
//! After each, the ledger must add up (`verify` finds nothing) and nothing acknowledged may be
//! missing. The flood drill is in `inbound.rs`, a cluster master killed under load in
//! `cluster.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use loyalty_gateway::embedded::{free_port, RedisServer};
use serde_json::json;

use crate::helpers::*;
use crate::outage::{eventually, readyz};

async fn assert_ledger_adds_up(app: &TestApp) {
    let report = loyalty_gateway::verify::verify(&app.state.store, &app.prefix, &app.bloom())
        .await
        .unwrap();
    assert!(
        report.discrepancies.is_empty(),
        "{:#?}",
        report.discrepancies
    );
}

/// Waits until the service answers `/readyz` again after a fault.
async fn until_ready(app: &TestApp) {
    assert!(
        eventually(|| async { readyz(app).await == 200 }).await,
        "the service did not recover"
    );
}

/// The receipts of `phone`'s earn entries, from its history.
async fn earned_receipts(app: &TestApp, phone: &str) -> BTreeSet<String> {
    app.history(phone)
        .await
        .iter()
        .filter(|e| e["type"] == "earn")
        .map(|e| e["receipt"].as_str().unwrap().to_owned())
        .collect()
}

const TILLS: usize = 8;

#[tokio::test]
async fn redis_killed_during_a_stream_of_earns_loses_no_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    // Every write is on disk before Redis answers it.
    let mut redis = RedisServer::start_with(
        free_port().unwrap(),
        dir.path(),
        true,
        &["--appendfsync", "always"],
    )
    .unwrap();
    let app = std::sync::Arc::new(spawn_app_on(&redis.url(), |_| {}).await);
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    // Eight tills, each earning for its own customer until an earn fails; every answer is
    // reported as (till, receipt, acknowledged).
    let tills: Vec<_> = (0..TILLS)
        .map(|till| {
            let app = app.clone();
            let acked = acked_tx.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    let receipt = format!("T{till}-{n}");
                    let response = app
                        .earn(
                            json!({ "phone": format!("+1415555270{till}"), "amount": 1250,
                            "location": "store-12", "receipt": receipt }),
                        )
                        .await;
                    let ok = response.status() == 200;
                    acked.send((till, receipt, ok)).unwrap();
                    if !ok {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(acked_tx);
    let mut acknowledged: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut unanswered: BTreeMap<usize, String> = BTreeMap::new();
    let mut killed = false;
    while let Some((till, receipt, ok)) = acked_rx.recv().await {
        if ok {
            acknowledged.entry(till).or_default().push(receipt);
        } else {
            unanswered.insert(till, receipt);
        }
        if !killed && acknowledged.values().map(Vec::len).sum::<usize>() >= 300 {
            // SIGKILL while the tills are mid-request: nothing is flushed on the way out.
            redis.kill();
            killed = true;
        }
    }
    for till in tills {
        till.await.unwrap();
    }
    assert_eq!(unanswered.len(), TILLS, "every till saw the crash");

    redis.restart().unwrap();
    until_ready(&app).await;
    for (till, receipts) in &acknowledged {
        let phone = format!("+1415555270{till}");
        let stored = earned_receipts(&app, &phone).await;
        for receipt in receipts {
            assert!(stored.contains(receipt), "acknowledged {receipt} is gone");
        }
        // The one in flight at the crash may or may not have been written; the till retries
        // it, and it counts once either way.
        let in_flight = &unanswered[till];
        let retried = app
            .earn(
                json!({ "phone": phone, "amount": 1250, "location": "store-12",
                "receipt": in_flight }),
            )
            .await;
        assert_eq!(retried.status(), 200);
        let stored = earned_receipts(&app, &phone).await;
        assert_eq!(stored.len(), receipts.len() + 1);
        let earns = app
            .history(&phone)
            .await
            .iter()
            .filter(|e| e["type"] == "earn")
            .count();
        assert_eq!(earns, stored.len(), "no receipt credited twice");
    }
    assert_ledger_adds_up(&app).await;
}

#[tokio::test]
async fn a_frozen_redis_is_503_within_the_timeout_and_the_service_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), true).unwrap();
    let app = spawn_app_on(&redis.url(), |s| s.redis.timeout_ms = 1_000).await;
    app.earn_ok("+14155552671", 1250, "R-1").await;
    // A till that gives up after 5 s: the gateway must answer before it does.
    let till = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let earn = |receipt: &'static str| {
        till.post(app.url("/v1/earn"))
            .bearer_auth(POS_KEY)
            .json(&json!({ "phone": "+14155552671", "amount": 1250,
                "location": "store-12", "receipt": receipt }))
            .send()
    };

    redis.freeze();
    let frozen_at = Instant::now();
    let response = earn("R-2").await.expect("answered before the till gave up");
    assert_eq!(response.headers()["retry-after"], "2");
    assert_problem(response, 503, "service-unavailable").await;
    let ready = till.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    // The fault lasts 10 s, whatever the requests do meanwhile.
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(frozen_at.elapsed())).await;
    redis.thaw();

    until_ready(&app).await;
    // The frozen Redis ran R-2 once it went on, or never got it: the till's retry is credited
    // once either way.
    assert_eq!(earn("R-2").await.unwrap().status(), 200);
    assert_eq!(earn("R-3").await.unwrap().status(), 200);
    assert_eq!(app.member_json("+14155552671").await["balance"], 36);
    assert_ledger_adds_up(&app).await;
}

#[tokio::test]
async fn a_provider_failing_with_500s_429s_and_timeouts_for_a_while_gets_everything_afterwards() {
    let app = spawn_app_with(|s| {
        s.sms.http_timeout_ms = 200;
        s.sms.visibility_timeout_ms = 5_000;
        s.sms.retry_schedule_secs = vec![5, 30, 120, 600, 1800, 3600];
    })
    .await;
    // The outage: ten 500s, ten 429s, ten requests never answered in time; then it recovers.
    twilio_send()
        .respond_with(twilio_error(500, 20500, "Internal Server Error"))
        .up_to_n_times(10)
        .mount(&app.twilio)
        .await;
    twilio_send()
        .respond_with(twilio_error(429, 20429, "Too Many Requests"))
        .up_to_n_times(10)
        .mount(&app.twilio)
        .await;
    twilio_send()
        .respond_with(twilio_created("SMslow").set_delay(Duration::from_secs(2)))
        .up_to_n_times(10)
        .mount(&app.twilio)
        .await;
    twilio_accepts_everything(&app).await;
    let phones: Vec<String> = (0..20).map(|i| format!("+141555528{i:02}")).collect();
    for (i, phone) in phones.iter().enumerate() {
        app.earn_ok(phone, 1250, &format!("R-{i}")).await;
    }
    // Retries come due as the clock moves on: an hour, a minute at a time.
    for _ in 0..60 {
        app.drain_outbox().await;
        app.clock.advance(chrono::Duration::minutes(1));
    }
    app.drain_outbox().await;
    let requests = app.twilio.received_requests().await.unwrap();
    assert!(requests.len() >= 20 + 30, "the outage was seen");
    for phone in &phones {
        assert!(!app.texts_to(phone).await.is_empty(), "{phone} was tried");
    }
    let dead: Vec<serde_json::Value> = app
        .get("/v1/dead-letters", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert!(dead.is_empty(), "{dead:?}");
    // One text per earn, each accepted in the end.
    for n in 1..=20 {
        assert_eq!(app.message(&format!("m{n}")).await["status"], "sent");
    }
    let next =
        loyalty_gateway::store::ProgramKeys::new(&app.prefix, &app.bloom().id).message("m21");
    let exists: bool = redis::cmd("EXISTS")
        .arg(next)
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
    assert!(!exists, "nothing else was queued");
    assert_ledger_adds_up(&app).await;
}

/// The campaign's recipients: numbers of the non-geographic area code 500, whose texts keep
/// the program's time zone for quiet hours.
fn recipient(i: usize) -> String {
    format!("+1500555{:04}", 1000 + i)
}

/// A fixed-offset zone where it is early afternoon now, so that the real clock of a `serve`
/// process never meets quiet hours.
fn afternoon_zone() -> String {
    use chrono::Timelike;
    let hour = chrono::Utc::now().hour() as i32;
    let mut offset = 13 - hour;
    if offset > 12 {
        offset -= 24;
    }
    // The Etc zones name the offset with the opposite sign.
    format!("Etc/GMT{:+}", -offset)
}

#[tokio::test]
async fn a_gateway_killed_during_a_fan_out_texts_each_recipient_once_but_for_sends_in_flight() {
    use futures_util::StreamExt;
    let members = 300;
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    futures_util::stream::iter(0..members)
        .for_each_concurrent(16, |i| {
            let app = &app;
            async move {
                app.text(&recipient(i), "JOIN").await;
            }
        })
        .await;
    app.drain_outbox().await;
    let created: serde_json::Value = app
        .post(
            "/v1/campaigns",
            MARKETING_KEY,
            &json!({ "name": "Drill", "body": "Drill day: double points" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let sent = app
        .post(
            &format!("/v1/campaigns/{id}/send"),
            MARKETING_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(sent.status(), 202);

    // The fan-out and the sends are a `serve` process's work: 100 texts a second.
    let provider = wiremock::MockServer::start().await;
    twilio_send()
        .respond_with(twilio_created("SMdrill"))
        .mount(&provider)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(&app.redis_url, &app.prefix, &provider.uri())
        .replace(
            "messages_per_second = 1000.0",
            "messages_per_second = 100.0",
        )
        .replace("burst = 100", "burst = 10")
        .replace(
            "timezone = \"America/New_York\"",
            &format!("timezone = \"{}\"", afternoon_zone()),
        );
    let config = crate::binary::write_config(dir.path(), &toml);
    let drill_texts = |requests: &[wiremock::Request]| -> Vec<String> {
        requests
            .iter()
            .filter_map(|r| {
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(&r.body).into_owned().collect();
                form["Body"]
                    .starts_with("Drill day")
                    .then(|| form["To"].clone())
            })
            .collect()
    };
    let count = || async { drill_texts(&provider.received_requests().await.unwrap()).len() };

    let mut first = crate::shutdown::Serve::start(&config, dir.path().join("first.log"));
    first.address();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count().await < 60 {
        assert!(Instant::now() < deadline, "no fan-out: {}", first.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let at_kill = count().await;
    assert!(
        at_kill < members,
        "the kill came too late to drill anything"
    );

    // Another process takes over: the fan-out goes on from where it stopped, and the sends the
    // dead one held are reclaimed after the visibility timeout.
    let second = crate::shutdown::Serve::start(&config, dir.path().join("second.log"));
    second.address();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let texts = drill_texts(&provider.received_requests().await.unwrap());
        let reached: BTreeSet<&String> = texts.iter().collect();
        if reached.len() == members {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {members} reached: {}",
            reached.len(),
            second.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let campaign: serde_json::Value = app
        .get(&format!("/v1/campaigns/{id}"), MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(campaign["recipients"], members);
    drop(second);

    let texts = drill_texts(&provider.received_requests().await.unwrap());
    let mut per_recipient: BTreeMap<&String, usize> = BTreeMap::new();
    for to in &texts {
        *per_recipient.entry(to).or_default() += 1;
    }
    assert_eq!(per_recipient.len(), members);
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    // At most the sends the killed process had in flight (sms.max_in_flight = 16) went twice.
    assert!(twice.len() <= 16, "{twice:?}");
    assert!(twice.iter().all(|(_, n)| **n == 2), "{twice:?}");
    assert_ledger_adds_up(&app).await;
}
