//! `GET /v1/stats` and `/v1/stats/daily`: the owner's numbers from the counters the ledger
//! keeps, for all time, a window of days and a location; they agree with `verify`'s recount.

use serde_json::{json, Value};

use crate::helpers::*;

async fn stats(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/v1/stats{query}"), MARKETING_KEY).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_numbers_follow_the_ledger_by_day_and_location_and_add_up() {
    let app = spawn_app_with(|s| s.programs[0] = bloom_with("value_per_point = \"0.01\"\n")).await;
    twilio_accepts_everything(&app).await;
    // Noon, so no step of a day crosses midnight.
    let day1 = tomorrow_at(&app, 12);
    // Day 1: Ana joins (50) and buys twice downtown; Bo is enrolled at the till.
    app.text("+14155550701", "JOIN").await;
    app.earn_ok("+14155550701", 100_000, "R-1").await; // 1,000
    app.earn_ok("+14155550701", 10_000, "R-2").await; // 100
    app.earn_ok("+14155550702", 5_000, "R-3").await; // 50
                                                     // Day 2: Ana redeems $5 off; Bo buys at Riverside; Ana gets a refund.
    app.clock.advance(chrono::Duration::days(1));
    let day2 = app.clock.now().date_naive();
    let redeem = json!({ "phone": "+14155550701", "location": "store-12", "receipt": "D-1", "reward": "r5" });
    assert_eq!(app.redeem(redeem).await.status(), 200);
    let riverside = json!({ "phone": "+14155550702", "amount": 20_000, "location": "store-7", "receipt": "R-4" });
    assert_eq!(app.earn(riverside).await.status(), 200); // 200
    let refund =
        json!({ "location": "store-12", "receipt": "R-2", "amount": 5_000, "refund_id": "F" });
    assert_eq!(app.reverse(refund).await.status(), 200); // -50

    let all = stats(&app, "").await;
    assert_eq!(
        all["members"],
        json!({ "total": 2, "active": 1, "pending": 1, "opted_out": 0, "new": 2 })
    );
    assert_eq!((&all["visits"], &all["visitors"]), (&json!(4), &json!(2)));
    assert_eq!(all["repeat_visit_rate"], 1.0);
    // 50 + 1,000 + 100 + 50 + 200 - 50 issued; 1,000 redeemed.
    assert_eq!(
        all["points"],
        json!({ "issued": 1350, "redeemed": 1000, "expired": 0, "outstanding": 350 })
    );
    let balances = app.member_json("+14155550701").await["balance"]
        .as_i64()
        .unwrap()
        + app.member_json("+14155550702").await["balance"]
            .as_i64()
            .unwrap();
    assert_eq!(balances, 350, "outstanding is what the members hold");
    assert_eq!(
        all["liability"],
        json!({ "amount": "3.5", "currency": "USD" })
    );
    assert_eq!(all["redemption_rate"], 1000.0 / 1350.0);
    assert_eq!(
        all["rewards"],
        json!({ "issued": 1, "redeemed": 1, "expired": 0 })
    );
    assert_eq!(all["by_location"]["store-7"]["visits"], 1);
    assert_eq!(all["by_location"]["store-12"]["visits"], 3);

    // Day 2 alone, and Riverside alone.
    let second = stats(&app, &format!("?from={day2}&to={day2}")).await;
    assert_eq!(
        (&second["visits"], &second["members"]["new"]),
        (&json!(1), &json!(0))
    );
    assert_eq!(second["points"]["issued"], 150);
    assert_eq!(
        second["points"]["outstanding"], 350,
        "outstanding is always now"
    );
    let river = stats(&app, "?location=store-7").await;
    assert_eq!(
        (&river["visits"], &river["points"]["issued"]),
        (&json!(1), &json!(200))
    );
    assert_eq!(river["by_location"].as_object().unwrap().len(), 1);

    let daily: Vec<Value> = app
        .get(
            &format!("/v1/stats/daily?from={day1}&to={day2}"),
            MARKETING_KEY,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        daily,
        [
            json!({ "date": day1.to_string(), "new_members": 2, "visits": 3, "points_issued": 1200,
                "points_redeemed": 0, "points_expired": 0, "points_forfeited": 0 }),
            json!({ "date": day2.to_string(), "new_members": 0, "visits": 1, "points_issued": 150,
                "points_redeemed": 1000, "points_expired": 0, "points_forfeited": 0 }),
        ]
    );
    app.verify_is_clean().await;
}

#[tokio::test]
async fn a_bad_window_or_location_is_a_422_naming_it() {
    let app = spawn_app().await;
    for (query, field) in [
        ("?from=2026-13-01", "from"),
        ("?from=2026-12-10&to=2026-12-01", "to"),
        ("?from=2025-01-01&to=2026-12-01", "from"),
        ("?location=nowhere", "location"),
    ] {
        for path in ["/v1/stats", "/v1/stats/daily"] {
            let problem = assert_problem(
                app.get(&format!("{path}{query}"), MARKETING_KEY).await,
                422,
                "validation-error",
            )
            .await;
            assert_eq!(problem["field"], field, "{path}{query}");
        }
    }
    assert_problem(app.get("/v1/stats", POS_KEY).await, 403, "forbidden").await;
}

#[tokio::test]
async fn counters_kept_per_location_before_they_were_fields_of_the_program_still_count() {
    let app = spawn_app().await;
    let day = tomorrow_at(&app, 12);
    // What an earlier version stored for a 100-point purchase downtown that day: the program's
    // counters, and the location's again in hashes of its own.
    let base = format!("{}:{{bloom}}:", app.prefix);
    let mut conn = app.redis().await;
    for key in [
        "stats".to_owned(),
        format!("stats:day:{day}"),
        "stats:loc:store-12".to_owned(),
        format!("stats:loc:store-12:day:{day}"),
    ] {
        let _: () = redis::cmd("HSET")
            .arg(format!("{base}{key}"))
            .arg(&["points:issued", "100", "visits", "1"])
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    app.earn_ok("+14155550701", 5_000, "R-1").await; // 50 points downtown

    let stored: std::collections::HashMap<String, i64> = redis::cmd("HGETALL")
        .arg(format!("{base}stats"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        stored.get("points:issued@store-12"),
        Some(&50),
        "{stored:?}"
    );
    let per_location: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{base}stats:loc:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        per_location.len(),
        2,
        "only the earlier version's: {per_location:?}"
    );

    let today = format!("from={day}&to={day}");
    for query in ["".to_owned(), format!("?{today}")] {
        let all = stats(&app, &query).await;
        assert_eq!(
            (&all["visits"], &all["points"]["issued"]),
            (&json!(2), &json!(150))
        );
        let downtown = &all["by_location"]["store-12"];
        assert_eq!(
            (&downtown["visits"], &downtown["points_issued"]),
            (&json!(2), &json!(150))
        );
        assert_eq!(all["by_location"]["store-7"]["visits"], 0);
    }
    for query in [
        "?location=store-12".to_owned(),
        format!("?location=store-12&{today}"),
    ] {
        let downtown = stats(&app, &query).await;
        assert_eq!(
            (&downtown["visits"], &downtown["points"]["issued"]),
            (&json!(2), &json!(150)),
            "{query}"
        );
    }
    assert_eq!(stats(&app, "?location=store-7").await["visits"], 0);
    for query in ["", "&location=store-12"] {
        let daily: Vec<Value> = app
            .get(&format!("/v1/stats/daily?{today}{query}"), MARKETING_KEY)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&daily[0]["visits"], &daily[0]["points_issued"]),
            (&json!(2), &json!(150)),
            "{query}"
        );
    }
}
