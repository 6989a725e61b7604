//! Campaigns: segments, preview, exactly-once fan-out through the outbox, holdouts, the cap.

use serde_json::{json, Value};

use crate::helpers::*;

/// An active member (joined by text), named, with `visits` purchases of $10 at `location`.
async fn member(app: &TestApp, phone: &str, name: &str, visits: usize, location: &str) {
    app.text(phone, "JOIN").await;
    app.text(phone, &format!("NAME {name}")).await;
    for i in 0..visits {
        let earned = app
            .earn(
                json!({ "phone": phone, "amount": 1000, "location": location,
                "receipt": format!("{phone}-{i}") }),
            )
            .await;
        assert_eq!(earned.status(), 200);
    }
}

async fn create(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/v1/campaigns", MARKETING_KEY, &body).await
}

async fn created(app: &TestApp, body: Value) -> Value {
    let response = create(app, body).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    response.json().await.unwrap()
}

async fn preview(app: &TestApp, id: &str) -> Value {
    let response = app
        .post(
            &format!("/v1/campaigns/{id}/preview"),
            MARKETING_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

pub async fn campaign(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/campaigns/{id}"), MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_draft_is_checked_completed_with_the_optout_notice_and_editable_until_sent() {
    let app = spawn_app().await;
    let draft = created(
        &app,
        json!({ "name": "Weekend", "body": "Hi {{ first_name }}, double points this weekend!" }),
    )
    .await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(
        draft["body"],
        "Hi {{ first_name }}, double points this weekend! Reply STOP to opt out."
    );
    let spanish = created(
        &app,
        json!({ "name": "Fin de semana", "body": "¡Puntos dobles!", "segment": { "locales": ["es"] } }),
    )
    .await;
    assert_eq!(
        spanish["body"], "¡Puntos dobles! Responde STOP para no recibir más.",
        "a campaign to one language's speakers gets the notice in that language"
    );
    let id = draft["id"].as_str().unwrap().to_owned();
    for (body, field) in [
        (
            json!({ "name": "x", "body": "Hi {{ frist_name }}" }),
            "body",
        ),
        (
            json!({ "name": "x", "body": "{% if balance > 10 %}{{ nope }}{% endif %}" }),
            "body",
        ),
        (json!({ "name": "x", "body": "Hi {{ first_name" }), "body"),
        (
            json!({ "name": "x", "body": "Hi", "segment": { "tiers": ["platinum"] } }),
            "segment.tiers",
        ),
        (
            json!({ "name": "x", "body": "Hi", "segment": { "locations": ["mars"] } }),
            "segment.locations",
        ),
        (
            json!({ "name": "x", "body": "Hi", "holdout_percent": 60 }),
            "holdout_percent",
        ),
        (json!({ "name": "", "body": "Hi" }), "name"),
        // The API document's maxLength, 1,600, counts characters: é is two bytes.
        (json!({ "name": "x", "body": "é".repeat(1601) }), "body"),
        (
            json!({ "name": "x", "body": "Hi", "segment": [null, null] }),
            "segment",
        ),
        (
            json!({ "name": "x", "body": "Hi", "send_at": "2000-01-01T00:00:00Z" }),
            "send_at",
        ),
    ] {
        let problem =
            assert_problem(create(&app, body.clone()).await, 422, "validation-error").await;
        assert_eq!(problem["field"], field, "{body}");
    }
    let edit = json!({ "name": "Weekend", "body": "Hi {{ first_name }}! Text STOP to end." });
    let edited = app
        .client
        .patch(app.url(&format!("/v1/campaigns/{id}")))
        .bearer_auth(MARKETING_KEY)
        .json(&edit)
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    assert_eq!(
        edited.json::<Value>().await.unwrap()["body"],
        "Hi {{ first_name }}! Text STOP to end.",
        "a body that tells how to opt out gets no second notice"
    );
    let sent = app
        .post(
            &format!("/v1/campaigns/{id}/send"),
            MARKETING_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(sent.status(), 202);
    let again = app
        .client
        .patch(app.url(&format!("/v1/campaigns/{id}")))
        .bearer_auth(MARKETING_KEY)
        .json(&edit)
        .send()
        .await
        .unwrap();
    assert_problem(again, 409, "campaign-not-editable").await;
    assert_problem(
        app.get("/v1/campaigns/c999", MARKETING_KEY).await,
        404,
        "campaign-not-found",
    )
    .await;
    assert_problem(app.get("/v1/campaigns", POS_KEY).await, 403, "forbidden").await;
}

#[tokio::test]
async fn the_campaign_list_pages_newest_first_through_the_link_header() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = created(&app, json!({ "name": format!("C{i}"), "body": "Hi" })).await;
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut next = Some("/v1/campaigns?limit=2".to_owned());
    while let Some(url) = next.take() {
        let response = app.get(&url, MARKETING_KEY).await;
        assert_eq!(response.status(), 200);
        next = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned())
            .map(|l| {
                assert!(l.ends_with(">; rel=\"next\""), "{l}");
                l[1..l.find('>').unwrap()].to_owned()
            });
        // A campaign created while paging does not shift the pages after the cursor.
        if seen.is_empty() {
            created(&app, json!({ "name": "Late", "body": "Hi" })).await;
        }
        let page: Vec<Value> = response.json().await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(seen, ids, "every campaign once, newest first");
    let all: Vec<Value> = app
        .get("/v1/campaigns", MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 6);

    for bad in ["limit=0", "limit=201", "before=x1", "before=c999"] {
        let problem = assert_problem(
            app.get(&format!("/v1/campaigns?{bad}"), MARKETING_KEY)
                .await,
            422,
            "validation-error",
        )
        .await;
        let field = bad.split('=').next().unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{problem}"
        );
    }
}

/// The API document's `maxLength` of a body counts characters, as JSON Schema does, and the
/// API agrees at the edge: 1,600 two-byte characters are a body, 1,601 are not (the case in
/// the table above).
#[tokio::test]
async fn a_body_of_exactly_the_documented_length_is_accepted() {
    let app = spawn_app().await;
    let campaign = created(&app, json!({ "name": "Long", "body": "é".repeat(1600) })).await;
    assert!(campaign["body"]
        .as_str()
        .unwrap()
        .starts_with(&"é".repeat(1600)));
}

#[tokio::test]
async fn segments_select_by_every_field_and_only_active_members() {
    let app = spawn_app().await;
    member(&app, "+14155550001", "Ana", 3, "store-12").await;
    member(&app, "+14155550002", "Bo", 1, "store-7").await;
    member(&app, "+14155550003", "Cy", 0, "store-12").await;
    app.text("+14155550003", "LANG es").await;
    // Not recipients: pending (enrolled at a till) and opted out.
    app.earn_ok("+14155550004", 5000, "R-P").await;
    member(&app, "+14155550005", "Di", 2, "store-12").await;
    app.text("+14155550005", "STOP").await;
    let count = |segment: Value| {
        let app = &app;
        async move {
            let c = created(
                app,
                json!({ "name": "s", "body": "Hi", "segment": segment }),
            )
            .await;
            preview(app, c["id"].as_str().unwrap()).await["recipients"].clone()
        }
    };
    assert_eq!(count(json!({})).await, 3);
    assert_eq!(count(json!({ "locations": ["store-12"] })).await, 1);
    assert_eq!(
        count(json!({ "locations": ["store-7", "store-12"] })).await,
        2
    );
    assert_eq!(count(json!({ "locales": ["es"] })).await, 1);
    assert_eq!(count(json!({ "min_visits": 2 })).await, 1);
    assert_eq!(
        count(json!({ "min_balance": 60, "max_balance": 70 })).await,
        1
    );
    assert_eq!(count(json!({ "tiers": ["member"] })).await, 3);
    assert_eq!(count(json!({ "tiers": ["gold"] })).await, 0);
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    assert_eq!(count(json!({ "visited_after": hour_ago })).await, 2);
    assert_eq!(count(json!({ "joined_before": hour_ago })).await, 0);
    assert_eq!(
        count(json!({ "not_visited_for_days": 1 })).await,
        1,
        "never visited counts"
    );
    // A visit kept as versions before 2026-12 kept it, in a set of the member's own, counts.
    let keys = loyalty_gateway::store::ProgramKeys::new(&app.prefix, &app.bloom().id);
    let () = redis::cmd("SADD")
        .arg(keys.locations("+14155550003"))
        .arg("store-7")
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
    assert_eq!(count(json!({ "locations": ["store-7"] })).await, 2);
}

#[tokio::test]
async fn the_preview_counts_encoding_segments_and_cost_as_a_hand_count_does() {
    let app = spawn_app().await;
    member(&app, "+14155550001", "Ana", 0, "store-12").await;
    member(&app, "+14155550002", "Maximiliana", 0, "store-12").await;
    // "Hi Ana, you have 50 pts! Reply STOP to opt out." is 47 GSM-7 characters: 1 segment
    // each; the longest name is still one.
    let plain = created(
        &app,
        json!({ "name": "p", "body": "Hi {{ first_name }}, you have {{ balance }} pts!" }),
    )
    .await;
    let p = preview(&app, plain["id"].as_str().unwrap()).await;
    assert_eq!(
        (
            &p["recipients"],
            &p["encoding"],
            &p["segments"],
            &p["total_segments"]
        ),
        (&json!(2), &json!("GSM-7"), &json!(1), &json!(2))
    );
    assert_eq!(p["estimated_cost"], "0.0166");
    assert_eq!(p["currency"], "USD");
    assert_eq!(
        p["samples"][0],
        "Hi Ana, you have 50 pts! Reply STOP to opt out."
    );
    // An emoji makes it UCS-2: 70 units a text, 67 per part. 64 "x" + " 🎉" (3 units) + the
    // notice (23 units) = 90 units: 2 segments each, 4 in all.
    let body = format!("{} 🎉", "x".repeat(64));
    let ucs = created(&app, json!({ "name": "u", "body": body })).await;
    let u = preview(&app, ucs["id"].as_str().unwrap()).await;
    assert_eq!(
        (&u["encoding"], &u["segments"], &u["total_segments"]),
        (&json!("UCS-2"), &json!(2), &json!(4))
    );
    assert_eq!(u["estimated_cost"], "0.0332");
}

#[tokio::test]
async fn each_member_gets_a_campaign_once_whatever_is_sent_twice() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    for (i, name) in ["Ana", "Bo", "Cy"].iter().enumerate() {
        member(&app, &format!("+1415555000{i}"), name, 0, "store-12").await;
    }
    app.earn_ok("+14155550009", 1000, "R-P").await; // pending: never a recipient
    app.drain_outbox().await;
    let before = app.sent_texts().await.len();
    let c = created(
        &app,
        json!({ "name": "Once", "body": "Hi {{ first_name }}!" }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    for _ in 0..2 {
        let sent = app
            .post(
                &format!("/v1/campaigns/{id}/send"),
                MARKETING_KEY,
                &json!({}),
            )
            .await;
        assert_eq!(sent.status(), 202);
    }
    app.drain_campaigns().await;
    app.post(
        &format!("/v1/campaigns/{id}/send"),
        MARKETING_KEY,
        &json!({}),
    )
    .await;
    app.drain_campaigns().await;
    // Daytime for San Francisco, so nothing waits for quiet hours.
    app.clock.set(
        (chrono::Utc::now() + chrono::Duration::days(1))
            .date_naive()
            .and_hms_opt(20, 0, 0)
            .unwrap()
            .and_utc(),
    );
    app.drain_outbox().await;
    let texts = &app.sent_texts().await[before..];
    assert_eq!(texts.len(), 3, "{texts:?}");
    let mut to: Vec<&str> = texts.iter().map(|(to, _)| to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["+14155550000", "+14155550001", "+14155550002"]);
    assert!(texts
        .iter()
        .any(|(_, body)| body == "Hi Bo! Reply STOP to opt out."));
    let counts = campaign(&app, id).await;
    assert_eq!(counts["status"], "sent");
    assert_eq!(
        (&counts["recipients"], &counts["queued"], &counts["sent"]),
        (&json!(3), &json!(3), &json!(3))
    );
}

#[tokio::test]
async fn the_frequency_cap_skips_and_counts_a_member_already_texted() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    member(&app, "+14155550001", "Ana", 0, "store-12").await;
    member(&app, "+14155550002", "Bo", 0, "store-12").await;
    let first = created(
        &app,
        json!({ "name": "1", "body": "One", "segment": { "locales": ["en"] } }),
    )
    .await;
    let id = first["id"].as_str().unwrap();
    app.post(
        &format!("/v1/campaigns/{id}/send"),
        MARKETING_KEY,
        &json!({}),
    )
    .await;
    app.drain_campaigns().await;
    let second = created(&app, json!({ "name": "2", "body": "Two" })).await;
    let id2 = second["id"].as_str().unwrap();
    app.post(
        &format!("/v1/campaigns/{id2}/send"),
        MARKETING_KEY,
        &json!({}),
    )
    .await;
    app.drain_campaigns().await;
    let counts = campaign(&app, id2).await;
    assert_eq!(
        (&counts["capped"], &counts["queued"]),
        (&json!(2), &json!(0))
    );
    // A day later (the default window), the cap is free again.
    app.clock.advance(chrono::Duration::hours(25));
    let third = created(&app, json!({ "name": "3", "body": "Three" })).await;
    let id3 = third["id"].as_str().unwrap();
    app.post(
        &format!("/v1/campaigns/{id3}/send"),
        MARKETING_KEY,
        &json!({}),
    )
    .await;
    app.drain_campaigns().await;
    assert_eq!(campaign(&app, id3).await["queued"], 2);
}

#[tokio::test]
async fn the_holdout_has_exactly_the_share_asked_and_gets_nothing() {
    let app = spawn_app().await;
    for i in 0..10 {
        app.text(&format!("+141555501{i:02}"), "JOIN").await;
    }
    let c = created(
        &app,
        json!({ "name": "H", "body": "Hi", "holdout_percent": 30 }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(preview(&app, id).await["holdout"], 3);
    app.post(
        &format!("/v1/campaigns/{id}/send"),
        MARKETING_KEY,
        &json!({}),
    )
    .await;
    app.drain_campaigns().await;
    let counts = campaign(&app, id).await;
    assert_eq!(
        (&counts["holdout"], &counts["queued"], &counts["recipients"]),
        (&json!(3), &json!(7), &json!(7))
    );
}

#[tokio::test]
async fn a_cancelled_campaign_sends_nothing_it_had_not_sent() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    member(&app, "+14155550001", "Ana", 0, "store-12").await;
    app.drain_outbox().await;
    let before = app.sent_texts().await.len();
    let c = created(&app, json!({ "name": "C", "body": "Hi" })).await;
    let id = c["id"].as_str().unwrap();
    app.post(
        &format!("/v1/campaigns/{id}/send"),
        MARKETING_KEY,
        &json!({}),
    )
    .await;
    app.drain_campaigns().await;
    let cancelled = app
        .post(
            &format!("/v1/campaigns/{id}/cancel"),
            MARKETING_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(
        cancelled.json::<Value>().await.unwrap()["status"],
        "cancelled"
    );
    app.clock.set(
        (chrono::Utc::now() + chrono::Duration::days(1))
            .date_naive()
            .and_hms_opt(20, 0, 0)
            .unwrap()
            .and_utc(),
    );
    app.drain_outbox().await;
    assert_eq!(
        app.sent_texts().await.len(),
        before,
        "the queued text was not sent"
    );
    assert_eq!(campaign(&app, id).await["suppressed"], 1);
}

#[tokio::test]
async fn a_scheduled_campaign_starts_at_its_time_once() {
    let app = spawn_app().await;
    app.text("+14155550001", "JOIN").await;
    let at = chrono::Utc::now() + chrono::Duration::hours(2);
    let c = created(
        &app,
        json!({ "name": "Later", "body": "Hi", "send_at": at.to_rfc3339() }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["status"], "scheduled");
    app.drain_campaigns().await;
    assert_eq!(campaign(&app, id).await["status"], "scheduled");
    app.clock.advance(chrono::Duration::hours(3));
    app.drain_campaigns().await;
    app.drain_campaigns().await;
    let counts = campaign(&app, id).await;
    assert_eq!(
        (&counts["status"], &counts["queued"]),
        (&json!("sent"), &json!(1))
    );
}

/// What campaign `id` did with each member of its audience: a message id, `holdout`,
/// `capped` or `suppressed`.
async fn outcomes(app: &TestApp, id: &str) -> std::collections::HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg(format!("{}:{{bloom}}:campaign:{id}:recipients", app.prefix))
        .query_async(&mut app.redis().await)
        .await
        .unwrap()
}

/// Who a campaign put in each group: (recipients, holdout).
async fn groups(app: &TestApp, id: &str) -> (Vec<String>, Vec<String>) {
    let outcomes = outcomes(app, id).await;
    let mut recipients: Vec<String> = outcomes
        .iter()
        .filter(|(_, o)| o.starts_with('m'))
        .map(|(p, _)| p.clone())
        .collect();
    let mut holdout: Vec<String> = outcomes
        .iter()
        .filter(|(_, o)| *o == "holdout")
        .map(|(p, _)| p.clone())
        .collect();
    recipients.sort();
    holdout.sort();
    (recipients, holdout)
}

/// Sends campaign `id` and delivers its texts in the recipients' daytime.
async fn send_and_deliver(app: &TestApp, id: &str) {
    let sent = app
        .post(
            &format!("/v1/campaigns/{id}/send"),
            MARKETING_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(sent.status(), 202);
    app.drain_campaigns().await;
    tomorrow_at(app, 20);
    app.drain_outbox().await;
}

#[tokio::test]
async fn purchases_at_the_till_are_attributed_to_the_right_group_window_and_campaign() {
    let app = spawn_app_with(|s| s.campaigns.max_per_member = 5).await;
    twilio_accepts_everything(&app).await;
    for i in 0..10 {
        app.text(&format!("+141555502{i:02}"), "JOIN").await;
    }
    let first = created(
        &app,
        json!({ "name": "A", "body": "Come in!", "holdout_percent": 50,
        "attribution_days": 7 }),
    )
    .await;
    let id = first["id"].as_str().unwrap().to_owned();
    send_and_deliver(&app, &id).await;
    let (recipients, holdout) = groups(&app, &id).await;
    assert_eq!((recipients.len(), holdout.len()), (5, 5));
    // Two recipients buy ($10 and $20), one twice; one holdout member buys once ($40).
    app.earn_ok(&recipients[0], 1000, "A-1").await;
    app.earn_ok(&recipients[0], 1000, "A-2").await;
    app.earn_ok(&recipients[1], 2000, "A-3").await;
    app.earn_ok(&holdout[0], 4000, "A-4").await;
    let results: Value = app
        .get(&format!("/v1/campaigns/{id}/results"), MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results["attribution_days"], 7);
    let r = &results["recipients"];
    assert_eq!(
        (
            &r["members"],
            &r["visitors"],
            &r["visits"],
            &r["spend"],
            &r["points"]
        ),
        (&json!(5), &json!(2), &json!(3), &json!(4000), &json!(40))
    );
    assert_eq!(r["visit_rate"], 0.4);
    let h = &results["holdout"];
    assert_eq!(
        (&h["members"], &h["visitors"], &h["visits"], &h["spend"]),
        (&json!(5), &json!(1), &json!(1), &json!(4000))
    );
    assert_eq!(results["incremental"]["visits"], 2.0);
    assert_eq!(results["incremental"]["spend"], 0.0);

    // After the window, nothing more counts.
    app.clock.advance(chrono::Duration::days(8));
    app.earn_ok(&recipients[2], 1000, "A-5").await;
    let later: Value = app
        .get(&format!("/v1/campaigns/{id}/results"), MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(later["recipients"]["visits"], 3);

    // A second campaign touches everyone: the last touch wins.
    let second = created(&app, json!({ "name": "B", "body": "Again!" })).await;
    let id2 = second["id"].as_str().unwrap().to_owned();
    send_and_deliver(&app, &id2).await;
    app.earn_ok(&recipients[0], 1000, "B-1").await;
    let a: Value = app
        .get(&format!("/v1/campaigns/{id}/results"), MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .get(&format!("/v1/campaigns/{id2}/results"), MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        a["recipients"]["visits"], 3,
        "the first campaign gets no more"
    );
    assert_eq!(b["recipients"]["visits"], 1);
    assert_eq!(
        b["recipients"]["visitors"], 1,
        "a member who visited for the first campaign is a new visitor for the second"
    );
    assert_eq!(b["recipients"]["members"], 10);
    // An opt-out within a day of the text counts against the campaign that sent it.
    app.text(&recipients[3], "STOP").await;
    let b: Value = app
        .get(&format!("/v1/campaigns/{id2}/results"), MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["recipients"]["opt_outs"], 1);
}

fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

#[tokio::test]
async fn send_at_local_waits_for_that_time_in_each_recipients_zone_next_day_when_past() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    // 11:00 in New York, 08:00 in Los Angeles.
    app.clock.set(utc("2026-11-24T16:00:00Z"));
    member(&app, "+12125550101", "Ny", 0, "store-12").await;
    member(&app, "+13105550102", "La", 0, "store-12").await;
    app.drain_outbox().await;
    let before = app.sent_texts().await.len();
    let c = created(
        &app,
        json!({ "name": "Ten", "body": "Hi {{ first_name }}", "send_at_local": "10:00" }),
    )
    .await;
    assert_eq!(c["send_at_local"], "10:00");
    let id = c["id"].as_str().unwrap();
    send_and_wait(&app, id).await;
    let texted = |texts: Vec<(String, String)>| -> Vec<String> {
        texts[before..].iter().map(|(to, _)| to.clone()).collect()
    };
    assert_eq!(texted(app.sent_texts().await), Vec::<String>::new());
    assert_eq!(campaign(&app, id).await["deferred"], 2);
    // 10:00 in Los Angeles: its member gets the text; New York's 10:00 has passed today.
    app.clock.set(utc("2026-11-24T18:00:00Z"));
    app.drain_outbox().await;
    assert_eq!(texted(app.sent_texts().await), ["+13105550102"]);
    // 10:00 the next day in New York.
    app.clock.set(utc("2026-11-25T14:59:00Z"));
    app.drain_outbox().await;
    assert_eq!(texted(app.sent_texts().await).len(), 1);
    app.clock.set(utc("2026-11-25T15:00:00Z"));
    app.drain_outbox().await;
    assert_eq!(
        texted(app.sent_texts().await),
        ["+13105550102", "+12125550101"]
    );
    for bad in ["25:00", "9:00", "10h", "10:00:00"] {
        let problem = assert_problem(
            create(
                &app,
                json!({ "name": "x", "body": "Hi", "send_at_local": bad }),
            )
            .await,
            422,
            "validation-error",
        )
        .await;
        assert_eq!(problem["field"], "send_at_local", "{bad}");
    }
}

#[tokio::test]
async fn marketing_waits_for_each_recipients_daytime() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    // 07:00 in New York, 04:00 in Los Angeles.
    app.clock.set(utc("2026-11-24T12:00:00Z"));
    member(&app, "+12125550101", "Ny", 0, "store-12").await;
    member(&app, "+13105550102", "La", 0, "store-12").await;
    app.drain_outbox().await;
    let before = app.sent_texts().await.len();
    let c = created(&app, json!({ "name": "Now", "body": "Hi" })).await;
    let id = c["id"].as_str().unwrap();
    send_and_wait(&app, id).await;
    assert_eq!(app.sent_texts().await.len(), before);
    assert_eq!(campaign(&app, id).await["deferred"], 2);
    // 08:00 in New York, still 05:00 in Los Angeles.
    app.clock.set(utc("2026-11-24T13:00:00Z"));
    app.drain_outbox().await;
    let texts = app.sent_texts().await;
    assert_eq!(texts[before..].len(), 1);
    assert_eq!(texts[before].0, "+12125550101");
    app.clock.set(utc("2026-11-24T16:00:00Z"));
    app.drain_outbox().await;
    assert_eq!(app.sent_texts().await[before..].len(), 2);
    assert_eq!(campaign(&app, id).await["sent"], 2);
}

/// Starts campaign `id`, queues its texts and lets the sender see them at the current time.
async fn send_and_wait(app: &TestApp, id: &str) {
    let sent = app
        .post(
            &format!("/v1/campaigns/{id}/send"),
            MARKETING_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(sent.status(), 202);
    app.drain_campaigns().await;
    app.drain_outbox().await;
}

/// The provider's id for the text campaign `id` sent to `phone`.
async fn sid_of(app: &TestApp, id: &str, phone: &str) -> String {
    let message = outcomes(app, id)
        .await
        .remove(phone)
        .expect("a text to phone");
    app.message(&message).await["provider_id"].clone()
}

async fn twilio_status_with_error(app: &TestApp, sid: &str, code: &str) {
    let params = form(&[
        ("MessageSid", sid),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", code),
        ("From", SENDER),
        ("AccountSid", ACCOUNT_SID),
    ]);
    let answer = app
        .post_twilio_form("/webhooks/twilio/status", &params)
        .await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn a_number_carriers_call_unreachable_is_skipped_by_campaigns_until_it_texts_us() {
    let app = spawn_app_with(|s| s.campaigns.max_per_member = 10).await;
    twilio_accepts_everything(&app).await;
    app.clock.set(utc("2026-11-24T20:00:00Z"));
    member(&app, "+14155550001", "Ana", 0, "store-12").await;
    member(&app, "+14155550002", "Landline", 0, "store-12").await;
    app.drain_outbox().await;
    let first = created(&app, json!({ "name": "One", "body": "Hi" })).await;
    let first = first["id"].as_str().unwrap();
    send_and_wait(&app, first).await;
    let sid = sid_of(&app, first, "+14155550002").await;
    twilio_status_with_error(&app, &sid, "30006").await;
    assert_eq!(campaign(&app, first).await["failed"], 1);

    let before = app.sent_texts().await.len();
    let second = created(&app, json!({ "name": "Two", "body": "Hi again" })).await;
    let second = second["id"].as_str().unwrap();
    assert_eq!(
        preview(&app, second).await["recipients"],
        1,
        "the preview leaves the unreachable number out"
    );
    send_and_wait(&app, second).await;
    let texted: Vec<String> = app.sent_texts().await[before..]
        .iter()
        .map(|(to, _)| to.clone())
        .collect();
    assert_eq!(texted, ["+14155550001"]);

    // A text from the number proves it can get texts.
    app.text("+14155550002", "BAL").await;
    app.drain_outbox().await;
    let third = created(&app, json!({ "name": "Three", "body": "Hi once more" })).await;
    assert_eq!(
        preview(&app, third["id"].as_str().unwrap()).await["recipients"],
        2
    );
}

#[tokio::test]
async fn a_campaign_carriers_filter_pauses_itself_holds_its_texts_and_resumes() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    // 11:00 in New York, 08:00 in Los Angeles, 06:00 in Honolulu.
    app.clock.set(utc("2026-11-24T16:00:00Z"));
    member(&app, "+12125550101", "Ny", 0, "store-12").await;
    member(&app, "+13105550102", "La", 0, "store-12").await;
    member(&app, "+18085550103", "Hi", 0, "store-12").await;
    app.drain_outbox().await;
    let c = created(&app, json!({ "name": "Spammy", "body": "Deal!" })).await;
    let id = c["id"].as_str().unwrap();
    send_and_wait(&app, id).await;
    assert_eq!(campaign(&app, id).await["sent"], 2);
    let sid = sid_of(&app, id, "+12125550101").await;
    twilio_status_with_error(&app, &sid, "30007").await;

    let paused = campaign(&app, id).await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["filtered"], 1);
    let reason = paused["paused_reason"].as_str().unwrap();
    assert!(
        reason.contains("filtered 1 of the 2 texts sent"),
        "{reason}"
    );

    // Daytime in Honolulu: the held text still waits.
    app.clock.set(utc("2026-11-24T20:00:00Z"));
    app.drain_outbox().await;
    assert!(app
        .texts_to("+18085550103")
        .await
        .iter()
        .all(|t| !t.starts_with("Deal!")));

    let resumed = app
        .post(
            &format!("/v1/campaigns/{id}/resume"),
            MARKETING_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(resumed.status(), 200);
    assert_eq!(resumed.json::<Value>().await.unwrap()["status"], "sent");
    app.drain_outbox().await;
    assert_eq!(
        app.texts_to("+18085550103").await.last().unwrap(),
        "Deal! Reply STOP to opt out."
    );
    assert_problem(
        app.post(
            &format!("/v1/campaigns/{id}/resume"),
            MARKETING_KEY,
            &json!({}),
        )
        .await,
        409,
        "campaign-not-paused",
    )
    .await;
}

#[tokio::test]
async fn cancelling_a_paused_campaign_suppresses_the_texts_it_held() {
    let app = spawn_app_with(|s| s.campaigns.pause_on_filtered_percent = 0.0).await;
    twilio_accepts_everything(&app).await;
    app.clock.set(utc("2026-11-24T16:00:00Z"));
    member(&app, "+12125550101", "Ny", 0, "store-12").await;
    member(&app, "+18085550103", "Hi", 0, "store-12").await;
    app.drain_outbox().await;
    let c = created(&app, json!({ "name": "Spammy", "body": "Deal!" })).await;
    let id = c["id"].as_str().unwrap();
    send_and_wait(&app, id).await;
    let sid = sid_of(&app, id, "+12125550101").await;
    twilio_status_with_error(&app, &sid, "30007").await;
    assert_eq!(campaign(&app, id).await["status"], "paused");
    app.clock.set(utc("2026-11-24T20:00:00Z"));
    app.drain_outbox().await;
    let cancelled = app
        .post(
            &format!("/v1/campaigns/{id}/cancel"),
            MARKETING_KEY,
            &json!({}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["suppressed"], 1);
    app.drain_outbox().await;
    assert!(app
        .texts_to("+18085550103")
        .await
        .iter()
        .all(|t| !t.starts_with("Deal!")));
}

#[tokio::test]
async fn tracked_links_are_per_recipient_redirect_and_count_clicks() {
    let app = spawn_app_with(|s| {
        s.campaigns.track_links = true;
        s.links.base_url = Some("https://lg.example".into());
    })
    .await;
    twilio_accepts_everything(&app).await;
    app.clock.set(utc("2026-11-24T20:00:00Z"));
    member(&app, "+14155550001", "Ana", 0, "store-12").await;
    member(&app, "+14155550002", "Bo", 0, "store-12").await;
    app.drain_outbox().await;
    let url = "https://shop.example/spring-sale?utm_source=sms&utm_campaign=spring";
    let c = created(
        &app,
        json!({ "name": "Sale", "body": format!("Sale! {url}") }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    // "Sale! https://lg.example/l/xxxxxxxx Reply STOP to opt out." is 58 characters.
    let preview = preview(&app, id).await;
    assert_eq!(preview["samples"][0].as_str().unwrap().chars().count(), 58);
    send_and_wait(&app, id).await;
    let link_of = |text: &str| -> String {
        let at = text.find("https://lg.example/l/").expect("a short link");
        text[at..].split(' ').next().unwrap().to_owned()
    };
    let ana = link_of(app.texts_to("+14155550001").await.last().unwrap());
    let bo = link_of(app.texts_to("+14155550002").await.last().unwrap());
    assert_ne!(ana, bo, "each recipient has their own link");
    let token = ana.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 8);
    assert!(!app
        .texts_to("+14155550001")
        .await
        .last()
        .unwrap()
        .contains("shop.example"));

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..2 {
        let click = no_redirects
            .get(app.url(&format!("/l/{token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(click.status(), 302);
        assert_eq!(click.headers()["location"], url);
    }
    let bo_token = bo.rsplit('/').next().unwrap();
    no_redirects
        .get(app.url(&format!("/l/{bo_token}")))
        .send()
        .await
        .unwrap();
    let counts = campaign(&app, id).await;
    assert_eq!(
        (&counts["clicks"], &counts["unique_clicks"]),
        (&json!(3), &json!(2))
    );
    for unknown in ["ZZZZZZZZ", "short", "ab-cd_ef"] {
        let answer = no_redirects
            .get(app.url(&format!("/l/{unknown}")))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(answer, 404, "not-found").await;
        assert_eq!(problem["detail"], "no such link", "the same for {unknown}");
    }
}

#[tokio::test]
async fn a_fan_out_stopped_between_steps_and_finished_by_two_processes_texts_each_member_once() {
    let app = spawn_app().await;
    let other = spawn_second_process(&app, |_| {}).await;
    // More members than one step reads or queues (500), so the fan-out takes several steps.
    let phones: Vec<String> = (0..640).map(|i| format!("+1415555{i:04}")).collect();
    for chunk in phones.chunks(32) {
        futures_util::future::join_all(chunk.iter().map(|p| app.text(p, "JOIN"))).await;
    }
    let c = created(&app, json!({ "name": "Once", "body": "Hi" })).await;
    let id = c["id"].as_str().unwrap();
    // The preview reads the same members over two pages.
    let p = preview(&app, id).await;
    assert_eq!(
        (&p["recipients"], &p["total_segments"]),
        (&json!(640), &json!(640))
    );
    let sent = app
        .post(
            &format!("/v1/campaigns/{id}/send"),
            MARKETING_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(sent.status(), 202);
    let program = app.bloom();
    // The first process dies after three steps: the audience fixed, one batch queued. A kill
    // can only land between steps, each of which is one script.
    assert_eq!(
        app.state.campaigns.run_active(&program, 3).await.unwrap(),
        3
    );
    let midway = campaign(&app, id).await;
    assert_eq!(
        (&midway["status"], &midway["queued"]),
        (&json!("sending"), &json!(500))
    );
    // Two processes finish it at the same time; a second `send` changes nothing.
    app.post(
        &format!("/v1/campaigns/{id}/send"),
        MARKETING_KEY,
        &json!({}),
    )
    .await;
    let (a, b) = tokio::join!(
        app.state.campaigns.run_active(&program, 100),
        other.state.campaigns.run_active(&program, 100)
    );
    a.unwrap();
    b.unwrap();
    let done = campaign(&app, id).await;
    assert_eq!(done["status"], "sent");
    assert_eq!(
        (&done["recipients"], &done["queued"]),
        (&json!(640), &json!(640))
    );
    let (recipients, _) = groups(&app, id).await;
    assert_eq!(recipients.len(), 640);
    // Exactly one campaign text per member in the store.
    let mut conn = app.redis().await;
    let mut per_member = std::collections::HashMap::<String, usize>::new();
    for key in app.keys().await.iter().filter(|k| k.contains(":msg:")) {
        let (to, campaign): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(key)
            .arg("to")
            .arg("campaign")
            .query_async(&mut conn)
            .await
            .unwrap();
        if campaign.as_deref() == Some(id) {
            *per_member.entry(to.unwrap()).or_default() += 1;
        }
    }
    assert_eq!(per_member.len(), 640);
    assert!(per_member.values().all(|n| *n == 1));
}
