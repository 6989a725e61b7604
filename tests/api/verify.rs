//! `loyalty-gateway verify`: a ledger that went through every kind of change adds up; one that
//! was tampered with is reported, member by member, and the command fails.

use serde_json::json;

use crate::binary::{gateway, write_config};
use crate::helpers::*;

const ANA: &str = "+14155552671";

/// A program that went through every kind of balance change.
async fn busy_program() -> TestApp {
    let app = spawn_app_with(|s| {
        s.programs[0] = bloom_with(
            "[programs.referral]\nbonus_points = 100\n\
             [programs.expiry]\npoints_expire_after = \"30d\"\n",
        );
    })
    .await;
    twilio_accepts_everything(&app).await;
    app.text(ANA, "JOIN").await;
    app.text(ANA, "NAME Ana").await;
    app.earn_ok(ANA, 620_000, "R-1").await; // issues the $25 code
    app.text(ANA, "REFER").await;
    app.text("+14155550601", "JOIN ANA1").await;
    app.earn_ok("+14155550601", 1000, "R-F").await; // the referral bonus, both
    let redeem = json!({ "phone": ANA, "location": "store-12", "receipt": "D-1", "reward": "r5" });
    assert_eq!(app.redeem(redeem).await.status(), 200);
    let void = json!({ "location": "store-12", "receipt": "D-1" });
    assert_eq!(
        app.post("/v1/redeem/void", POS_KEY, &void).await.status(),
        200
    );
    let refund =
        json!({ "location": "store-12", "receipt": "R-1", "amount": 20_000, "refund_id": "F" });
    assert_eq!(app.reverse(refund).await.status(), 200);
    let adjust = json!({ "points": -30, "reason": "correction" });
    let adjusted = app
        .post(
            &format!("/v1/members/{}/adjust", urlencode(ANA)),
            ADMIN_KEY,
            &adjust,
        )
        .await;
    assert_eq!(adjusted.status(), 200);
    app.earn_ok("+14155550602", 1000, "R-E").await;
    let erased = app
        .client
        .delete(app.url("/v1/members/%2B14155550602"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 204);
    app.clock.advance(chrono::Duration::days(31));
    app.state
        .campaigns
        .run_automations(&app.bloom(), 1000)
        .await
        .unwrap(); // every lot expires
    app
}

#[tokio::test]
async fn every_kind_of_change_leaves_a_ledger_that_adds_up() {
    let app = busy_program().await;
    let report = loyalty_gateway::verify::verify(&app.state.store, &app.prefix, &app.bloom())
        .await
        .unwrap();
    assert_eq!(report.members, 2);
    assert!(report.entries > 10, "{report:?}");
    assert!(
        report.discrepancies.is_empty(),
        "{:#?}",
        report.discrepancies
    );
    assert_eq!(
        app.member_json(ANA).await["balance"],
        0,
        "all of it expired"
    );
}

#[tokio::test]
async fn a_tampered_balance_is_reported_with_the_member_and_the_command_fails() {
    let app = busy_program().await;
    let mut conn = app.redis().await;
    let () = redis::cmd("HINCRBY")
        .arg(format!("{}:{{bloom}}:m:{ANA}", app.prefix))
        .arg("balance")
        .arg(5)
        .query_async(&mut conn)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &config_toml(&app.redis_url, &app.prefix, "http://127.0.0.1:1"),
    );
    let output = gateway(&["verify", "--program", "bloom"], &path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("+1******2671: balance 5, but its history sums to 0"),
        "{out}"
    );
    assert!(
        out.contains("program counters:"),
        "the totals disagree too: {out}"
    );
    assert!(!out.contains(ANA), "never the whole number: {out}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("discrepancies"), "{err}");
}
