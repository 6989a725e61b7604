//! Automations: near-reward, win-back (with its bonus), the welcome series and the reminder
//! before a code expires, each on a controlled clock, sent through the campaign path once per
//! trigger, whichever serve runs them.

use serde_json::Value;

use crate::helpers::*;

const ANA: &str = "+14155550301";

const NEAR_REWARD: &str = "
[programs.automations.near_reward]
within_points = 200
";
const WIN_BACK: &str = "
[programs.automations.win_back]
after = \"30d\"
bonus_multiplier = 2
bonus_valid = \"14d\"
";
const REWARD_EXPIRING: &str = "
[programs.automations.reward_expiring]
before = \"7d\"
";
const WELCOME_SERIES: &str = "
[[programs.automations.welcome_series]]
after = \"3d\"
body = \"Hi {{ first_name }}, your next visit is on us: show this text.\"
[[programs.automations.welcome_series]]
after = \"10d\"
body = \"{{ program }}: you have {{ balance }} pts.\"
";

/// bloom with these automations, the cap lifted to 10 a day, the clock at noon in California.
async fn spawn_with_automations(automations: &str) -> TestApp {
    let app = spawn_app_with(|s| {
        s.programs[0] = bloom_with(automations);
        s.campaigns.max_per_member = 10;
    })
    .await;
    twilio_accepts_everything(&app).await;
    tomorrow_at(&app, 20);
    app
}

async fn run(app: &TestApp) -> usize {
    app.state
        .campaigns
        .run_automations(&app.bloom(), 1000)
        .await
        .unwrap()
}

async fn automation(app: &TestApp, name: &str) -> Value {
    let all: Vec<Value> = app
        .get("/v1/automations", MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    all.into_iter()
        .find(|a| a["automation"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
}

#[tokio::test]
async fn near_reward_texts_once_per_reward_cycle() {
    let app = spawn_with_automations(NEAR_REWARD).await;
    app.text(ANA, "JOIN").await;
    app.earn_ok(ANA, 90_000, "R-1").await; // 950: 50 from $5 off
    assert_eq!(run(&app).await, 1);
    let texts = app.deliver_to(ANA).await;
    assert!(
        texts.last().unwrap().contains("You are 50 pts from $5 off"),
        "{texts:?}"
    );
    app.earn_ok(ANA, 1000, "R-2").await; // 960: the same cycle
    assert_eq!(run(&app).await, 0);
    app.earn_ok(ANA, 5000, "R-3").await; // 1,010
    let redeemed = app
        .redeem(serde_json::json!({ "phone": ANA, "location": "store-12", "receipt": "D-1", "reward": "r5" }))
        .await;
    assert_eq!(redeemed.status(), 200);
    app.earn_ok(ANA, 95_000, "R-4").await; // 960 again, in a new cycle
    assert_eq!(run(&app).await, 1);
    let near = automation(&app, "near_reward").await;
    assert_eq!(
        (&near["recipients"], &near["queued"]),
        (&Value::from(2), &Value::from(2))
    );
    app.drain_outbox().await;
    assert_eq!(automation(&app, "near_reward").await["sent"], 2);
}

#[tokio::test]
async fn win_back_comes_after_the_quiet_spell_once_across_processes_and_doubles_the_next_visit() {
    let app = spawn_with_automations(&format!("{WIN_BACK}{WELCOME_SERIES}")).await;
    let other = spawn_second_process(&app, |_| {}).await;
    let regular = "+14155550302";
    for phone in [ANA, regular] {
        app.text(phone, "JOIN").await;
        app.earn_ok(phone, 1000, &format!("R-{phone}")).await;
    }
    app.clock.advance(chrono::Duration::days(20));
    app.earn_ok(regular, 1000, "R-regular-2").await;
    // The welcome series (two steps each) is another automation, with its own counts.
    assert_eq!(run(&app).await, 4);
    app.clock
        .advance(chrono::Duration::days(10) - chrono::Duration::minutes(1));
    assert_eq!(run(&app).await, 0, "30 days less a minute: not yet");
    app.clock.advance(chrono::Duration::minutes(2));
    // Two serve processes at once: the trigger is taken by one of them.
    let program = app.bloom();
    let (a, b) = tokio::join!(
        app.state.campaigns.run_automations(&program, 1000),
        other.state.campaigns.run_automations(&program, 1000)
    );
    assert_eq!(
        a.unwrap() + b.unwrap(),
        1,
        "Ana only: the regular came 10 days ago"
    );
    let texts = app.deliver_to(ANA).await;
    assert!(texts.last().unwrap().contains("We miss you"), "{texts:?}");
    assert!(texts.last().unwrap().contains("2x points"), "{texts:?}");
    assert!(app
        .texts_to(regular)
        .await
        .iter()
        .all(|t| !t.contains("We miss you")));
    assert_eq!(run(&app).await, 0);

    // The next purchase within 14 days earns double, once; the history says why.
    let earned = app.earn_ok(ANA, 1000, "R-back").await;
    assert_eq!(
        (&earned["points"], &earned["bonus_multiplier"]),
        (&Value::from(20), &Value::from(2.0))
    );
    assert_eq!(app.history(ANA).await[0]["bonus_multiplier"], 2.0);
    let replayed = app
        .earn(serde_json::json!({ "phone": ANA, "amount": 1000, "location": "store-12", "receipt": "R-back" }))
        .await;
    assert_eq!(
        replayed.json::<Value>().await.unwrap(),
        earned,
        "a replay says the same"
    );
    let after = app.earn_ok(ANA, 1000, "R-after").await;
    assert_eq!(after["points"], 10);
    assert!(after.get("bonus_multiplier").is_none());
    // The visit counts for the win-back, as a campaign's would.
    let win_back = automation(&app, "win_back").await;
    assert_eq!(win_back["queued"], 1);
    assert_eq!(win_back["results"]["recipients"]["visits"], 2);
}

#[tokio::test]
async fn the_welcome_series_follows_the_first_opt_in_step_by_step() {
    let app = spawn_with_automations(WELCOME_SERIES).await;
    app.text(ANA, "JOIN").await;
    app.text(ANA, "NAME Ana").await;
    assert_eq!(run(&app).await, 0);
    app.clock.advance(chrono::Duration::days(3));
    assert_eq!(run(&app).await, 1);
    let texts = app.deliver_to(ANA).await;
    assert!(
        texts
            .last()
            .unwrap()
            .starts_with("Hi Ana, your next visit is on us"),
        "{texts:?}"
    );
    // Opting out and back in does not start it again.
    app.text(ANA, "STOP").await;
    app.text(ANA, "START").await;
    app.clock.advance(chrono::Duration::days(7));
    assert_eq!(run(&app).await, 1);
    let texts = app.deliver_to(ANA).await;
    assert!(
        texts
            .last()
            .unwrap()
            .starts_with("Bloom Rewards: you have 50 pts."),
        "{texts:?}"
    );
    app.clock.advance(chrono::Duration::days(30));
    assert_eq!(run(&app).await, 0);
}

#[tokio::test]
async fn a_reminder_goes_before_an_unused_code_expires_and_not_for_a_used_one() {
    let app = spawn_with_automations(REWARD_EXPIRING).await;
    let used = "+14155550303";
    for (phone, receipt) in [(ANA, "R-A"), (used, "R-U")] {
        app.text(phone, "JOIN").await;
        app.earn_ok(phone, 500_000, receipt).await; // reaches $25: a code, valid 90 days
    }
    let code = app.member_json(used).await["rewards"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let redeemed = app
        .redeem(serde_json::json!({ "phone": used, "location": "store-12", "receipt": "D-U", "code": code }))
        .await;
    assert_eq!(redeemed.status(), 200);
    app.clock
        .advance(chrono::Duration::days(83) - chrono::Duration::minutes(1));
    assert_eq!(run(&app).await, 0);
    app.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(run(&app).await, 1);
    let texts = app.deliver_to(ANA).await;
    let reminder = texts.last().unwrap();
    assert!(
        reminder.contains("$25 reward card code") && reminder.contains("expires"),
        "{reminder}"
    );
    assert!(app
        .texts_to(used)
        .await
        .iter()
        .all(|t| !t.contains("expires")));
    // When its time runs out unused, the code counts as an expired reward, once.
    app.clock.advance(chrono::Duration::days(8));
    run(&app).await;
    run(&app).await;
    let stats: Value = app
        .get("/v1/stats", MARKETING_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["rewards"]["expired"], 1);
}

#[tokio::test]
async fn an_automation_holds_out_its_share_and_never_texts_a_pending_member() {
    let app = spawn_with_automations(
        "[programs.automations.win_back]\nafter = \"30d\"\nholdout_percent = 50\n",
    )
    .await;
    let members: Vec<String> = (0..40).map(|i| format!("+141555504{i:02}")).collect();
    for (i, phone) in members.iter().enumerate() {
        app.text(phone, "JOIN").await;
        app.earn_ok(phone, 1000, &format!("R-{i}")).await;
    }
    let pending = "+14155550499";
    app.earn_ok(pending, 1000, "R-pending").await;
    app.clock.advance(chrono::Duration::days(31));
    assert_eq!(run(&app).await, 41);
    let win_back = automation(&app, "win_back").await;
    let (held, queued) = (
        win_back["holdout"].as_i64().unwrap(),
        win_back["queued"].as_i64().unwrap(),
    );
    // The pending member is either held out or suppressed, never texted.
    let suppressed = win_back["suppressed"].as_i64().unwrap();
    assert_eq!(held + queued + suppressed, 41);
    assert!(suppressed <= 1 && held > 5 && queued > 5, "{win_back}");
    app.drain_outbox().await;
    assert!(app
        .texts_to(pending)
        .await
        .iter()
        .all(|t| !t.contains("We miss you")));
    let mut texted = 0;
    for phone in &members {
        if app
            .texts_to(phone)
            .await
            .iter()
            .any(|t| t.contains("We miss you"))
        {
            texted += 1;
        }
    }
    assert_eq!(texted as i64, queued);
}

#[tokio::test]
async fn a_birthday_is_celebrated_in_its_week_once_a_year_with_its_bonus() {
    let app = spawn_with_automations("[programs.automations.birthday]\nbonus_points = 200\n").await;
    app.text(ANA, "JOIN").await;
    app.text(ANA, "NAME Ana").await;
    let birthday = app.clock.now() + chrono::Duration::days(10);
    app.text(ANA, &format!("BDAY {}", birthday.format("%m/%d")))
        .await;
    let texts = app.deliver_to(ANA).await;
    assert!(
        texts
            .last()
            .unwrap()
            .contains(&format!("({})", birthday.format("%m-%d"))),
        "{texts:?}"
    );
    assert_eq!(run(&app).await, 0, "ten days early");
    app.clock.set(birthday);
    assert_eq!(run(&app).await, 1);
    let texts = app.deliver_to(ANA).await;
    assert!(
        texts
            .last()
            .unwrap()
            .contains("Happy birthday, Ana! 200 pts are on your card"),
        "{texts:?}"
    );
    assert_eq!(app.history(ANA).await[0]["type"], "birthday");
    assert_eq!(app.member_json(ANA).await["balance"], 250);
    // Telling it again this year changes nothing; next year it comes again.
    app.text(ANA, &format!("BDAY {}", birthday.format("%m-%d")))
        .await;
    app.clock.advance(chrono::Duration::days(20));
    assert_eq!(run(&app).await, 0);
    app.clock.set(birthday + chrono::Duration::days(365));
    assert_eq!(run(&app).await, 1);
    assert_eq!(app.member_json(ANA).await["balance"], 450);
    let counts = automation(&app, "birthday").await;
    assert_eq!(counts["queued"], 2);
}
