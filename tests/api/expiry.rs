//! Points expiry: FIFO lots that redemptions consume oldest first, voids put back, refunds take
//! from their own purchase first; what is left of a lot expires on schedule, with a reminder.

use serde_json::{json, Value};

use crate::helpers::*;

const ANA: &str = "+14155550501";

async fn spawn_with_expiry(
    webhooks: Vec<std::sync::Arc<loyalty_gateway::domain::WebhookEndpoint>>,
) -> TestApp {
    let app = spawn_app_with(|s| {
        s.webhooks = webhooks;
        s.programs[0] = bloom_with(
            "[programs.expiry]\npoints_expire_after = \"30d\"\n\
             reminder_before = \"7d\"\n",
        );
    })
    .await;
    twilio_accepts_everything(&app).await;
    tomorrow_at(&app, 20);
    app
}

/// The points left in each lot, oldest first.
async fn lots(app: &TestApp) -> Vec<i64> {
    let raw: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("{}:{{bloom}}:m:{ANA}:lots", app.prefix))
        .arg(0)
        .arg(-1)
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
    raw.iter()
        .map(|l| l.rsplit('|').next().unwrap().parse().unwrap())
        .collect()
}

async fn run(app: &TestApp) -> usize {
    app.state
        .campaigns
        .run_automations(&app.bloom(), 1000)
        .await
        .unwrap()
}

async fn balance(app: &TestApp) -> i64 {
    app.member_json(ANA).await["balance"].as_i64().unwrap()
}

#[tokio::test]
async fn points_expire_oldest_first_after_redemptions_voids_and_refunds_put_them_right() {
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let hook = crate::events::endpoint(&receiver.uri(), "events = [\"points.expired\"]");
    let app = spawn_with_expiry(vec![hook]).await;
    app.state.events.register(&app.bloom()).await.unwrap();
    app.text(ANA, "JOIN").await; // 50, expiring on day 30
    app.clock.advance(chrono::Duration::days(10));
    app.earn_ok(ANA, 60_000, "R-1").await; // 600, day 40
    app.clock.advance(chrono::Duration::days(10));
    app.earn_ok(ANA, 100_000, "R-2").await; // 1,000, day 50
    assert_eq!(lots(&app).await, [50, 600, 1000]);

    // A redemption spends the oldest points first...
    let redeem = json!({ "phone": ANA, "location": "store-12", "receipt": "D-1", "reward": "r5" });
    assert_eq!(app.redeem(redeem).await.status(), 200);
    assert_eq!(lots(&app).await, [650]);
    // ...and its void puts each part back where it came from.
    let void = app
        .post(
            "/v1/redeem/void",
            POS_KEY,
            &json!({ "location": "store-12", "receipt": "D-1" }),
        )
        .await;
    assert_eq!(void.status(), 200);
    assert_eq!(lots(&app).await, [50, 600, 1000]);
    // A refund takes back from its own purchase's points.
    let refund = app
        .reverse(json!({ "location": "store-12", "receipt": "R-2", "amount": 50_000, "refund_id": "F1" }))
        .await;
    assert_eq!(refund.status(), 200);
    assert_eq!(lots(&app).await, [50, 600, 500]);
    assert_eq!(balance(&app).await, 1150);

    // Day 23: the reminder for the welcome points.
    app.clock.advance(chrono::Duration::days(3));
    assert_eq!(run(&app).await, 1);
    let texts = app.deliver_to(ANA).await;
    assert!(
        texts.last().unwrap().contains("50 of your pts expire on"),
        "{texts:?}"
    );

    // Day 30, 40 and 50: each lot expires with what is left of it.
    app.clock.advance(chrono::Duration::days(7));
    assert!(run(&app).await >= 1);
    assert_eq!(
        (lots(&app).await, balance(&app).await),
        (vec![600, 500], 1100)
    );
    let entry: Value = app.history(ANA).await[0].clone();
    assert_eq!(
        (&entry["type"], &entry["points"]),
        (&json!("expire"), &json!(-50))
    );
    app.clock.advance(chrono::Duration::days(10));
    run(&app).await;
    assert_eq!((lots(&app).await, balance(&app).await), (vec![500], 500));
    app.clock.advance(chrono::Duration::days(10));
    run(&app).await;
    assert_eq!((lots(&app).await, balance(&app).await), (vec![], 0));
    let expired: i64 = redis::cmd("HGET")
        .arg(format!("{}:{{bloom}}:stats", app.prefix))
        .arg("points:expired")
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
    assert_eq!(expired, 1150);
    assert_eq!(run(&app).await, 0, "nothing twice");
    // Each expiry reached the CRM as points.expired.
    app.state.events.drain(&app.bloom()).await.unwrap();
    let reported: Vec<i64> = receiver
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["data"]["points"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(reported, [50, 600, 500]);
}
