//! A member's history and consent as lib.lua's `Compact` keeps them: the newest history entries
//! and consent record in the member hash, older ones (and ones too long for a field) in the
//! lists, and records written before this format still read, in order, everywhere.

use serde_json::{json, Value};

use crate::helpers::*;

const PHONE: &str = "+14155552671";

fn ids(history: &[Value]) -> Vec<u64> {
    history
        .iter()
        .map(|e| e["id"].as_str().unwrap()[1..].parse().unwrap())
        .collect()
}

/// The key of PHONE's member hash in the bloom program.
fn member_key(app: &TestApp) -> String {
    format!("{}:{{bloom}}:m:{PHONE}", app.prefix)
}

async fn member_hash(app: &TestApp) -> (String, usize, usize) {
    let key = member_key(app);
    let mut conn = app.redis().await;
    let encoding: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let inline = fields
        .iter()
        .filter(|f| f.bytes().all(|b| b.is_ascii_digit()))
        .count();
    let archived: usize = redis::cmd("LLEN")
        .arg(format!("{key}:ledger"))
        .query_async(&mut conn)
        .await
        .unwrap();
    (encoding, inline, archived)
}

#[tokio::test]
async fn a_long_history_moves_to_the_list_in_order_and_the_record_stays_compact() {
    let app = spawn_app().await;
    let purchases = 100;
    let key = member_key(&app);
    let mut conn = app.redis().await;
    let mut most_fields = 0;
    for i in 0..purchases {
        app.earn_ok(PHONE, 1000 + i, &format!("R-{i}")).await;
        let fields: usize = redis::cmd("HLEN")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        most_fields = most_fields.max(fields);
    }
    // lib.lua moves the history out at 48 fields; an earn counts them every 8th visit, so the
    // hash holds at most 7 more.
    assert!(
        (48..=48 + 7).contains(&most_fields),
        "{most_fields} fields at most"
    );
    let (encoding, inline, archived) = member_hash(&app).await;
    assert_eq!(encoding, "listpack");
    assert_eq!(inline + archived, purchases as usize);
    assert!(
        archived > 0 && inline > 0,
        "{inline} inline, {archived} in the list"
    );

    let response = app
        .get(
            &format!("/v1/members/{}/history?limit=500", urlencode(PHONE)),
            POS_KEY,
        )
        .await;
    let history: Vec<Value> = response.json().await.unwrap();
    assert_eq!(history.len(), purchases as usize);
    let got = ids(&history);
    let mut sorted = got.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(got, sorted, "newest first across the hash and the list");
    for (i, entry) in history.iter().rev().enumerate() {
        assert_eq!(entry["receipt"], format!("R-{i}"));
        assert_eq!(entry["amount"], 1000 + i as i64);
        assert_eq!(entry["type"], "earn");
        assert!(entry["at"].as_str().unwrap().ends_with('Z'));
    }
    // A page smaller than what the hash holds, and one that reaches into the list.
    for limit in [3, inline + 2] {
        let page: Vec<Value> = app
            .get(
                &format!("/v1/members/{}/history?limit={limit}", urlencode(PHONE)),
                POS_KEY,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(ids(&page), got[..limit]);
    }
    app.verify_is_clean().await;
}

#[tokio::test]
async fn an_entry_too_long_for_the_hash_goes_to_the_list_after_the_older_ones() {
    let app = spawn_app().await;
    app.earn_ok(PHONE, 1000, "R-1").await;
    app.earn_ok(PHONE, 1000, "R-2").await;
    let reason = "goodwill after the espresso machine broke down twice on a Saturday";
    let adjusted = app
        .client
        .post(app.url(&format!("/v1/members/{}/adjust", urlencode(PHONE))))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "points": 5, "reason": reason }))
        .send()
        .await
        .unwrap();
    assert_eq!(adjusted.status(), 200);
    app.earn_ok(PHONE, 1000, "R-3").await;
    let (_, inline, archived) = member_hash(&app).await;
    assert_eq!(
        (inline, archived),
        (1, 3),
        "R-1, R-2 and the adjustment in the list"
    );

    let history = app.history(PHONE).await;
    let kinds: Vec<&str> = history
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["earn", "adjust", "earn", "earn"]);
    assert_eq!(history[1]["reason"], reason);
    assert_eq!(history[1]["by"], "admin");
    assert_eq!(history[0]["receipt"], "R-3");
    assert_eq!(history[3]["receipt"], "R-1");
    app.verify_is_clean().await;
}

/// A spill takes the hash's entries in the order Redis lists them, which while the hash is a
/// listpack is the order they were written; entries it lists out of order (a hash Redis
/// converted, or written by hand) still reach the list oldest first.
#[tokio::test]
async fn entries_the_hash_lists_out_of_order_still_move_to_the_list_oldest_first() {
    let app = spawn_app().await;
    for i in 1..=3 {
        app.earn_ok(PHONE, 1000, &format!("R-{i}")).await;
    }
    let key = member_key(&app);
    let mut conn = app.redis().await;
    let fields: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let entries: Vec<(String, Vec<u8>)> = fields
        .into_iter()
        .filter(|(name, _)| name.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(entries.len(), 3);
    // Written again newest first, the hash lists them that way.
    let mut pipe = redis::pipe();
    for (name, _) in &entries {
        pipe.hdel(&key, name);
    }
    for (name, value) in entries.iter().rev() {
        pipe.hset(&key, name, value);
    }
    let _: () = pipe.query_async(&mut conn).await.unwrap();
    let names: Vec<String> = redis::cmd("HKEYS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let listed: Vec<u64> = names.iter().filter_map(|n| n.parse().ok()).collect();
    assert!(listed.windows(2).all(|w| w[0] > w[1]), "{listed:?}");

    // An entry too long for the hash moves the others to the list first.
    let adjusted = app
        .client
        .post(app.url(&format!("/v1/members/{}/adjust", urlencode(PHONE))))
        .bearer_auth(ADMIN_KEY)
        .json(
            &json!({ "points": 5, "reason": "a reason too long to be a field of the member hash" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(adjusted.status(), 200);
    let archived: Vec<Vec<u8>> = redis::cmd("LRANGE")
        .arg(format!("{key}:ledger"))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let numbers: Vec<u64> = archived
        .iter()
        .map(|raw| {
            let array: Vec<Value> = rmp_serde::from_slice(raw).unwrap();
            array[0].as_u64().unwrap()
        })
        .collect();
    assert_eq!(numbers.len(), 4);
    assert!(
        numbers.windows(2).all(|w| w[0] > w[1]),
        "newest first: {numbers:?}"
    );
    let history = app.history(PHONE).await;
    let receipts: Vec<&str> = history
        .iter()
        .filter_map(|e| e["receipt"].as_str())
        .collect();
    assert_eq!(receipts, ["R-3", "R-2", "R-1"]);
    assert_eq!(history[0]["type"], "adjust");
    app.verify_is_clean().await;
}

#[tokio::test]
async fn history_and_consent_written_before_the_compact_record_still_read_in_order() {
    let app = spawn_app().await;
    app.text(PHONE, "JOIN").await;
    app.earn_ok(PHONE, 1000, "R-1").await;
    // What the scripts wrote before: JSON in the lists. Put the member's record in that shape:
    // the hash's entries and consent record move to the lists as JSON documents.
    let key = member_key(&app);
    let mut conn = app.redis().await;
    let history = app.history(PHONE).await;
    let consent: Value = app.consent_json(PHONE).await;
    let mut pipe = redis::pipe();
    for entry in history.iter().rev() {
        let mut stored = entry.clone();
        stored.as_object_mut().unwrap().remove("message_status");
        pipe.lpush(format!("{key}:ledger"), stored.to_string());
        pipe.hdel(&key, &entry["id"].as_str().unwrap()[1..]);
    }
    for record in consent["records"].as_array().unwrap().iter().rev() {
        pipe.lpush(format!("{key}:consent"), record.to_string());
    }
    pipe.hdel(&key, "consent");
    let _: () = pipe.query_async(&mut conn).await.unwrap();
    assert_eq!(member_hash(&app).await.1, 0);

    app.earn_ok(PHONE, 2000, "R-2").await;
    app.text(PHONE, "STOP").await;
    let now = app.history(PHONE).await;
    assert_eq!(now.len(), history.len() + 1);
    assert_eq!(now[0]["receipt"], "R-2");
    assert_eq!(&now[1..], &history[..]);
    let consent_now: Value = app.consent_json(PHONE).await;
    let actions: Vec<&str> = consent_now["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["opt_out", "opt_in"]);
    assert_eq!(
        consent_now["records"][1], consent["records"][0],
        "the old record reads as it was written"
    );
    app.verify_is_clean().await;
}

#[tokio::test]
async fn the_newest_consent_record_is_in_the_hash_and_every_earlier_one_in_the_list() {
    let app = spawn_app().await;
    app.text(PHONE, "JOIN").await;
    app.text(PHONE, "STOP").await;
    app.text(PHONE, "START").await;
    let consent: Value = app.consent_json(PHONE).await;
    let records = consent["records"].as_array().unwrap();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["opt_in", "opt_out", "opt_in"]);
    for (record, text) in records.iter().zip(["START", "STOP", "JOIN"]) {
        assert_eq!(record["channel"], "sms");
        assert_eq!(record["text"], text);
        assert!(record["message_id"].as_str().unwrap().starts_with("SM"));
        assert!(record["at"].as_str().unwrap().ends_with('Z'));
    }
    let key = member_key(&app);
    let in_list: usize = redis::cmd("LLEN")
        .arg(format!("{key}:consent"))
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
    assert_eq!(in_list, 2);
}
