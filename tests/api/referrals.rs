//! Referrals: REFER answers with the member's join word; a new number that joins with it is
//! linked, and both get the bonus at the friend's first purchase, once, within the monthly cap.

use chrono::Datelike;
use serde_json::Value;

use crate::helpers::*;

const ANA: &str = "+14155550201";

/// bloom with `[programs.referral]`: 200 points, at most 2 a month.
async fn spawn_with_referrals() -> TestApp {
    let app = spawn_app_with(|s| {
        s.programs[0] = bloom_with("[programs.referral]\nbonus_points = 200\nmax_per_month = 2\n");
    })
    .await;
    twilio_accepts_everything(&app).await;
    app
}

/// Ana joins, names herself and asks for her join word; returns it ("ANA1").
async fn ana_refers(app: &TestApp) -> String {
    app.text(ANA, "JOIN").await;
    app.text(ANA, "NAME Ana").await;
    app.text(ANA, "REFER").await;
    let texts = app.deliver_to(ANA).await;
    let answer = texts.last().unwrap();
    assert!(
        answer.contains("text JOIN ANA") && answer.contains(SENDER),
        "{answer}"
    );
    let word = answer
        .split("JOIN ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    word.to_owned()
}

fn referral_entries(history: &[Value]) -> Vec<i64> {
    history
        .iter()
        .filter(|e| e["type"] == "referral")
        .map(|e| e["points"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_friend_who_joins_with_the_word_earns_both_the_bonus_at_the_first_purchase_once() {
    let app = spawn_with_referrals().await;
    let word = ana_refers(&app).await;
    assert_eq!(word, "ANA1");
    let again = {
        app.text(ANA, "REFER").await;
        app.deliver_to(ANA).await.last().unwrap().clone()
    };
    assert!(
        again.contains("JOIN ANA1"),
        "the same word every time: {again}"
    );

    let friend = "+14155550202";
    app.text(friend, &format!("join {}", word.to_lowercase()))
        .await;
    assert_eq!(app.member_json(friend).await["status"], "active");
    let ana_before = app.member_json(ANA).await["balance"].as_i64().unwrap();
    let earned = app.earn_ok(friend, 1000, "R-1").await;
    // 50 welcome + 10 for $10 + 200 referral.
    assert_eq!(earned["balance"], 260);
    // The answer is the member after the bonus, as GET /v1/members reads them.
    let friend_after = app.member_json(friend).await;
    for field in ["balance", "lifetime_points", "tier", "status"] {
        assert_eq!(earned[field], friend_after[field], "{field}");
    }
    assert_eq!(earned["lifetime_points"], 260);
    assert_eq!(referral_entries(&app.history(friend).await), [200]);
    assert_eq!(app.member_json(ANA).await["balance"], ana_before + 200);
    assert_eq!(referral_entries(&app.history(ANA).await), [200]);
    let texts = app.deliver_to(ANA).await;
    assert!(
        texts
            .last()
            .unwrap()
            .contains("Your friend made their first purchase"),
        "{texts:?}"
    );
    // Only the first purchase.
    app.earn_ok(friend, 1000, "R-2").await;
    assert_eq!(referral_entries(&app.history(friend).await), [200]);
    assert_eq!(referral_entries(&app.history(ANA).await), [200]);
}

#[tokio::test]
async fn no_bonus_for_oneself_a_known_or_erased_number_or_an_unknown_word() {
    let app = spawn_with_referrals().await;
    let word = ana_refers(&app).await;
    // Ana with her own word: she is a member already.
    app.text(ANA, &format!("JOIN {word}")).await;
    app.earn_ok(ANA, 1000, "R-A").await;
    // A number the till knew before it texted the word.
    let known = "+14155550203";
    app.earn_ok(known, 1000, "R-K").await;
    app.text(known, &format!("JOIN {word}")).await;
    app.earn_ok(known, 1000, "R-K2").await;
    // An erased number coming back with the word.
    let erased = "+14155550204";
    app.text(erased, "JOIN").await;
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/members/{}", urlencode(erased))))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    app.text(erased, &format!("JOIN {word}")).await;
    app.earn_ok(erased, 1000, "R-E").await;
    // A word nobody has.
    let stranger = "+14155550205";
    app.text(stranger, "JOIN ZED99").await;
    assert_eq!(app.member_json(stranger).await["status"], "active");
    app.earn_ok(stranger, 1000, "R-S").await;

    for phone in [ANA, known, erased, stranger] {
        assert!(
            referral_entries(&app.history(phone).await).is_empty(),
            "{phone}"
        );
    }
}

#[tokio::test]
async fn a_referrer_is_rewarded_at_most_max_per_month_times_a_calendar_month() {
    let app = spawn_with_referrals().await;
    let word = ana_refers(&app).await;
    let friends = [
        "+14155550211",
        "+14155550212",
        "+14155550213",
        "+14155550214",
    ];
    for friend in &friends[..3] {
        app.text(friend, &format!("JOIN {word}")).await;
        app.earn_ok(friend, 1000, &format!("R-{friend}")).await;
    }
    assert_eq!(referral_entries(&app.history(ANA).await), [200, 200]);
    assert!(referral_entries(&app.history(friends[2]).await).is_empty());
    // The next month, the allowance starts again.
    let next_month = (app.clock.now() + chrono::Duration::days(32))
        .date_naive()
        .with_day(2)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    app.clock.set(next_month);
    app.text(friends[3], &format!("JOIN {word}")).await;
    app.earn_ok(friends[3], 1000, "R-next").await;
    assert_eq!(referral_entries(&app.history(ANA).await), [200, 200, 200]);
    assert_eq!(referral_entries(&app.history(friends[3]).await), [200]);
}

#[tokio::test]
async fn erasing_the_referrer_ends_the_referral_and_leaves_no_trace_of_them() {
    let app = spawn_with_referrals().await;
    let word = ana_refers(&app).await;
    let friend = "+14155550221";
    app.text(friend, &format!("JOIN {word}")).await;
    let erased = app
        .client
        .delete(app.url(&format!("/v1/members/{}", urlencode(ANA))))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 204);
    app.earn_ok(friend, 1000, "R-1").await;
    assert!(referral_entries(&app.history(friend).await).is_empty());
    let mut conn = app.redis().await;
    for key in app.keys().await {
        assert!(
            !key.contains(&ANA[2..]) && !key.ends_with(&format!("referral:{word}")),
            "{key}"
        );
        if key.ends_with(&format!("m:{friend}")) {
            // Binary values too (the history entries the hash holds).
            let member: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(
                member
                    .values()
                    .all(|v| !String::from_utf8_lossy(v).contains(&ANA[2..])),
                "{member:?}"
            );
        }
    }
}
