//! Earn receipts kept as fields of bucket hashes (lib.lua's `Receipts`): found again across
//! the splits that grow the table, moved to a key of their own when refunded, and forgotten by
//! the daily sweep once their retention has passed.

use serde_json::{json, Value};

use crate::helpers::*;

const PHONE: &str = "+14155552671";

/// The bucket table's state: (level, split, count), and every bucket's (name, encoding, fields).
async fn buckets(app: &TestApp) -> ((u64, u64, u64), Vec<(String, String, u64)>) {
    let keys = loyalty_gateway::store::ProgramKeys::new(&app.prefix, &app.bloom().id);
    let mut conn = app.redis().await;
    let (level, split, count): (Option<u64>, Option<u64>, Option<u64>) = redis::cmd("HMGET")
        .arg(keys.receipt_index())
        .arg("level")
        .arg("split")
        .arg("count")
        .query_async(&mut conn)
        .await
        .unwrap();
    let bucket_prefix = format!("{}:", keys.receipt_index());
    let mut found = Vec::new();
    for key in app.keys().await {
        if key.starts_with(&bucket_prefix) {
            let encoding: String = redis::cmd("OBJECT")
                .arg("ENCODING")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            let fields: u64 = redis::cmd("HLEN")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            found.push((key, encoding, fields));
        }
    }
    found.sort();
    (
        (level.unwrap_or(0), split.unwrap_or(0), count.unwrap_or(0)),
        found,
    )
}

fn purchase(i: usize) -> Value {
    json!({ "phone": format!("+1415555{:04}", 2000 + i % 7), "amount": 1250 + i,
        "location": "store-12", "receipt": format!("R-{i}") })
}

#[tokio::test]
async fn receipts_split_into_more_buckets_as_they_grow_and_every_one_is_still_found() {
    let app = spawn_app().await;
    let purchases = 300;
    let mut answers = Vec::new();
    for i in 0..purchases {
        let response = app.earn(purchase(i)).await;
        assert_eq!(response.status(), 200);
        answers.push(response.json::<Value>().await.unwrap());
    }
    let ((level, split, count), found) = buckets(&app).await;
    assert_eq!(count, purchases as u64);
    // Linear hashing at 24 receipts a bucket: 300 receipts need 13 buckets (2^3 + 5).
    assert_eq!((level, split), (3, 5));
    assert_eq!(found.len(), 13, "{found:?}");
    assert_eq!(found.iter().map(|b| b.2).sum::<u64>(), purchases as u64);
    for (key, encoding, _) in &found {
        assert_eq!(encoding, "listpack", "{key}");
    }
    let own: Vec<String> = app
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":receipt:earn:"))
        .collect();
    assert!(own.is_empty(), "{own:?}");
    let mut balances = Vec::new();
    for i in 0..7 {
        let member = app
            .member_json(purchase(i)["phone"].as_str().unwrap())
            .await;
        balances.push(member["balance"].clone());
    }

    for (i, first) in answers.iter().enumerate() {
        let again = app.earn(purchase(i)).await;
        assert_eq!(again.status(), 200);
        assert_eq!(again.headers()["idempotent-replayed"], "true", "R-{i}");
        assert_eq!(&again.json::<Value>().await.unwrap(), first, "R-{i}");
    }
    let mut conflicting = purchase(150);
    conflicting["amount"] = json!(99);
    assert_problem(app.earn(conflicting).await, 409, "receipt-conflict").await;
    for (i, balance) in balances.iter().enumerate() {
        let member = app
            .member_json(purchase(i)["phone"].as_str().unwrap())
            .await;
        assert_eq!(&member["balance"], balance, "nothing credited twice");
    }
}

/// A bucket value holds its field's hash, so a split need not work SHA-1 out again; values an
/// earlier version wrote hold none, and a split works theirs out. Here every value written so
/// far is rewritten as that version wrote it, then the table grows by 240 more receipts.
#[tokio::test]
async fn receipts_written_before_values_held_their_hash_are_split_to_where_they_are_found() {
    const WITHOUT_HASH: &str = "local flat, n = redis.call('HGETALL', KEYS[1]), 0
        for i = 1, #flat, 2 do
          local value = flat[i + 1]
          local status = string.byte(value, 31)
          if status > 16 then
            redis.call('HSET', KEYS[1], flat[i], string.sub(value, 1, 30)
              .. string.char(status - 16) .. string.sub(value, 36))
            n = n + 1
          end
        end
        return n";
    let app = spawn_app().await;
    let mut answers = Vec::new();
    for i in 0..60 {
        answers.push(app.earn(purchase(i)).await.json::<Value>().await.unwrap());
    }
    let mut conn = app.redis().await;
    let mut rewritten = 0;
    for (key, _, _) in buckets(&app).await.1 {
        let n: u64 = redis::Script::new(WITHOUT_HASH)
            .key(&key)
            .invoke_async(&mut conn)
            .await
            .unwrap();
        rewritten += n;
    }
    assert_eq!(rewritten, 60, "every value held its hash");

    for i in 60..300 {
        answers.push(app.earn(purchase(i)).await.json::<Value>().await.unwrap());
    }
    let ((level, split, count), found) = buckets(&app).await;
    assert_eq!((level, split, count), (3, 5, 300));
    assert_eq!(found.iter().map(|b| b.2).sum::<u64>(), 300);
    for (i, first) in answers.iter().enumerate() {
        let again = app.earn(purchase(i)).await;
        assert_eq!(again.headers()["idempotent-replayed"], "true", "R-{i}");
        assert_eq!(&again.json::<Value>().await.unwrap(), first, "R-{i}");
    }
}

#[tokio::test]
async fn a_refund_moves_its_receipt_out_of_the_bucket_and_both_replays_still_answer() {
    let app = spawn_app().await;
    let first = app.earn_ok(PHONE, 3000, "R-1").await;
    let refund = json!({ "location": "store-12", "receipt": "R-1", "amount": 1000,
        "refund_id": "A" });
    let refunded = app.reverse(refund.clone()).await;
    assert_eq!(refunded.status(), 200);
    let refunded: Value = refunded.json().await.unwrap();
    assert_eq!(refunded["points"], -10);

    let ((_, _, count), found) = buckets(&app).await;
    assert_eq!(count, 0);
    assert!(found.iter().all(|b| b.2 == 0), "{found:?}");
    let key = loyalty_gateway::store::ProgramKeys::new(&app.prefix, &app.bloom().id)
        .earn_receipt("store-12", "R-1");
    let mut conn = app.redis().await;
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let retention = 400 * 86_400;
    assert!(
        (retention - 86_400..=retention + 86_400).contains(&ttl),
        "kept for the retention, not forever: {ttl}"
    );

    let again = app
        .earn(json!({ "phone": PHONE, "amount": 3000, "location": "store-12", "receipt": "R-1" }))
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let again = app.reverse(refund).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), refunded);
    let rest = app
        .reverse(json!({ "location": "store-12", "receipt": "R-1", "refund_id": "B" }))
        .await;
    assert_eq!(rest.json::<Value>().await.unwrap()["points"], -20);
    assert_eq!(app.member_json(PHONE).await["balance"], 0);
}

#[tokio::test]
async fn the_daily_sweep_forgets_receipts_once_their_retention_has_passed() {
    let app = spawn_app().await;
    let program = app.bloom();
    app.earn_ok(PHONE, 1250, "R-old").await;
    app.clock.advance(chrono::Duration::days(300));
    app.earn_ok(PHONE, 1250, "R-new").await;
    let sweep = |buckets| {
        let (ledger, program) = (app.state.ledger.clone(), program.clone());
        async move { ledger.sweep_receipts(&program, buckets).await.unwrap() }
    };
    assert_eq!(sweep(16).await, (0, true), "nothing is old yet");
    assert_eq!(sweep(16).await, (0, true), "today's pass is done");

    app.clock.advance(chrono::Duration::days(101));
    assert_eq!(sweep(16).await, (1, true), "R-old is past 400 days");
    assert_eq!(buckets(&app).await.0 .2, 1);
    let replayed = app
        .earn(json!({ "phone": PHONE, "amount": 1250, "location": "store-12", "receipt": "R-new" }))
        .await;
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    // Forgotten, the old receipt number is a new purchase again, as an expired key was.
    let old = app
        .earn(json!({ "phone": PHONE, "amount": 1250, "location": "store-12", "receipt": "R-old" }))
        .await;
    assert!(old.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.member_json(PHONE).await["balance"], 36);
}

#[tokio::test]
async fn a_sweep_pass_over_many_buckets_resumes_where_the_last_call_stopped() {
    let app = spawn_app().await;
    let program = app.bloom();
    for i in 0..200 {
        assert_eq!(app.earn(purchase(i)).await.status(), 200);
    }
    let ((level, split, _), found) = buckets(&app).await;
    let total = found.len() as u32;
    assert_eq!(total as u64, (1 << level) + split);
    app.clock.advance(chrono::Duration::days(402));
    let ledger = &app.state.ledger;
    let mut removed = 0;
    let mut calls = 0;
    loop {
        let (n, done) = ledger.sweep_receipts(&program, 2).await.unwrap();
        removed += n;
        calls += 1;
        if done {
            break;
        }
        assert!(calls < 100, "the pass never completes");
    }
    assert_eq!(removed, 200);
    assert_eq!(calls, total.div_ceil(2));
    assert_eq!(buckets(&app).await.0 .2, 0);
}
