//! Customers running their membership by text, through a signed Twilio webhook.

use serde_json::{json, Value};

use crate::helpers::*;

const PHONE: &str = "+14155552671";

async fn joined(app: &TestApp) {
    twilio_accepts_everything(app).await;
    app.text(PHONE, "JOIN").await;
}

#[tokio::test]
async fn the_webhook_answers_with_empty_twiml() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    let response = app.text(PHONE, "JOIN").await;
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    let body = response.text().await.unwrap();
    assert!(body.contains("<Response/>"), "{body}");
    assert!(
        !body.contains("<Message"),
        "replies go through the outbox, not TwiML"
    );
}

#[tokio::test]
async fn join_enrols_credits_the_welcome_points_once_and_sends_a_compliant_welcome() {
    let app = spawn_app().await;
    joined(&app).await;
    let member = app.member_json(PHONE).await;
    assert_eq!(member["status"], "active");
    assert_eq!(member["balance"], 50);
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 1);
    let welcome = &texts[0];
    for must in ["Bloom Rewards", "Msg&data rates may apply", "HELP", "STOP"] {
        assert!(welcome.contains(must), "welcome lacks {must:?}: {welcome}");
    }
    app.text(PHONE, "join").await;
    assert_eq!(
        app.member_json(PHONE).await["balance"],
        50,
        "welcome points are credited once"
    );
    let history = app.history(PHONE).await;
    assert_eq!(history.iter().filter(|e| e["type"] == "welcome").count(), 1);
}

#[tokio::test]
async fn texts_from_other_countries_enrol_the_sender_and_no_one_else() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    // Before the numbers were read by their own country code, a US program turned the first
    // into +495112345678 (someone else) and dropped the others as "not a phone number".
    for from in [
        "+4915112345678",
        "+5511961234567",
        "+441214960000",
        "+201012345678",
    ] {
        app.text(from, "JOIN").await;
        let member = app.member_json(from).await;
        assert_eq!(member["phone"], from);
        assert_eq!(member["balance"], 50);
        let texts = app.deliver_to(from).await;
        assert_eq!(texts.len(), 1, "one welcome to {from}");
    }
    assert_eq!(app.sent_texts().await.len(), 4, "nobody else was texted");
}

#[tokio::test]
async fn a_program_join_keyword_enrols_too() {
    let app = spawn_app().await;
    app.text(PHONE, "bloom!").await;
    assert_eq!(app.member_json(PHONE).await["status"], "active");
}

#[tokio::test]
async fn a_till_enrolment_gets_one_request_and_nothing_else_until_yes() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    app.earn_ok(PHONE, 2500, "R-1").await;
    app.earn_ok(PHONE, 2500, "R-2").await;
    app.text(PHONE, "BAL").await;
    app.text(PHONE, "REWARDS").await;
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("Reply YES"));
    app.text(PHONE, "Yes").await;
    let member = app.member_json(PHONE).await;
    assert_eq!(member["status"], "active");
    assert_eq!(member["balance"], 50 + 50, "25 + 25 earned, 50 welcome");
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 2);
    assert!(texts[1].contains("Welcome"), "{}", texts[1]);
    // From now on purchases are texted.
    app.earn_ok(PHONE, 1250, "R-3").await;
    let texts = app.deliver_to(PHONE).await;
    assert!(texts[2].contains("+12 pts at Downtown"), "{}", texts[2]);
}

#[tokio::test]
async fn stop_then_earn_then_help_then_start() {
    let app = spawn_app().await;
    joined(&app).await;
    app.deliver_to(PHONE).await;

    app.text(PHONE, "STOP").await;
    assert_eq!(app.member_json(PHONE).await["status"], "opted_out");
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 2, "exactly one confirmation: {texts:?}");
    let confirmation = &texts[1];
    assert!(confirmation.contains("Bloom Rewards") && confirmation.contains("no more messages"));
    assert!(
        confirmation.contains("START"),
        "says how to rejoin: {confirmation}"
    );
    app.text(PHONE, "STOP").await;
    assert_eq!(
        app.deliver_to(PHONE).await.len(),
        2,
        "a second STOP sends nothing"
    );

    let earned = app.earn_ok(PHONE, 1250, "R-1").await;
    assert_eq!(earned["status"], "opted_out");
    app.text(PHONE, "BAL").await;
    assert_eq!(
        app.deliver_to(PHONE).await.len(),
        2,
        "an opted-out member gets no receipt"
    );

    app.text(PHONE, "HELP").await;
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 3, "HELP is always answered");
    let help = &texts[2];
    for must in [
        "Bloom Rewards",
        "bloom.example/help",
        "Msg&data rates may apply",
        "STOP",
        "msgs/mo",
    ] {
        assert!(help.contains(must), "help lacks {must:?}: {help}");
    }

    app.text(PHONE, "START").await;
    let member = app.member_json(PHONE).await;
    assert_eq!(member["status"], "active");
    assert_eq!(member["balance"], 62, "no second welcome bonus");
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 4);
    assert!(texts[3].contains("subscribed again"), "{}", texts[3]);
}

#[tokio::test]
async fn a_stop_that_lands_after_a_text_was_queued_still_stops_it() {
    let app = spawn_app().await;
    joined(&app).await;
    app.deliver_to(PHONE).await;
    app.earn_ok(PHONE, 1250, "R-1").await; // queues a receipt
    app.text(PHONE, "stop").await;
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[1].contains("unsubscribed"),
        "only the confirmation: {}",
        texts[1]
    );
}

#[tokio::test]
async fn plain_language_requests_opt_out() {
    let app = spawn_app().await;
    for (i, text) in [
        "please stop texting me",
        "Wrong number!",
        "take me off your list",
    ]
    .iter()
    .enumerate()
    {
        let phone = format!("+1415555267{i}");
        app.text(&phone, "JOIN").await;
        app.text(&phone, text).await;
        assert_eq!(
            app.member_json(&phone).await["status"],
            "opted_out",
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_negated_request_keeps_the_member_subscribed() {
    let app = spawn_app().await;
    joined(&app).await;
    for text in ["Don't stop sending me deals!", "do not unsubscribe me"] {
        app.text(PHONE, text).await;
        assert_eq!(app.member_json(PHONE).await["status"], "active", "{text}");
    }
    app.text(PHONE, "I don't like these, stop texting me").await;
    assert_eq!(app.member_json(PHONE).await["status"], "opted_out");
}

#[tokio::test]
async fn a_stranger_who_texts_stop_is_never_texted_from_the_till() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    app.text(PHONE, "STOP").await;
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(texts.len(), 1, "the one confirmation");
    let earned = app.earn_ok(PHONE, 1250, "R-1").await;
    assert_eq!(earned["status"], "opted_out");
    assert_eq!(
        app.deliver_to(PHONE).await.len(),
        1,
        "no 'reply YES' request"
    );
}

#[tokio::test]
async fn balance_rewards_and_redeem_by_text() {
    let app = spawn_app().await;
    joined(&app).await;
    app.earn_ok(PHONE, 150_000, "R-1").await;
    app.text(PHONE, "BAL").await;
    app.text(PHONE, "rewards").await;
    app.text(PHONE, "REDEEM r5").await;
    let texts = app.deliver_to(PHONE).await;
    let balance = &texts[2];
    assert!(balance.contains("1,550 pts"), "{balance}");
    assert!(
        balance.contains("3,450 to your $25 reward card"),
        "{balance}"
    );
    assert!(texts[3].contains("R5 $5 off (1,000 pts)"), "{}", texts[3]);
    let issued = &texts[4];
    assert!(issued.contains("$5 off code is"), "{issued}");
    let member = app.member_json(PHONE).await;
    assert_eq!(member["balance"], 550);
    let code = member["rewards"][0]["code"].as_str().unwrap().to_owned();
    assert!(issued.contains(&code), "{issued} should carry {code}");
    let redeemed = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "T-1", "code": code }))
        .await;
    assert_eq!(redeemed.status(), 200);
    app.text(PHONE, "REDEEM r25").await;
    let texts = app.deliver_to(PHONE).await;
    assert!(
        texts.last().unwrap().contains("550 pts"),
        "too few points: balance reply"
    );
    assert_eq!(app.member_json(PHONE).await["balance"], 550);
}

#[tokio::test]
async fn spanish_keywords_enrol_in_spanish_and_lang_switches() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    // Texts are rendered when sent, in the member's language at that moment, so each step is
    // delivered before the next.
    for text in ["¡Únete!", "saldo", "AYUDA", "LANG en", "BAL"] {
        app.text(PHONE, text).await;
        app.drain_outbox().await;
    }
    let texts = app.texts_to(PHONE).await;
    assert!(texts[0].contains("Bienvenido"), "{}", texts[0]);
    assert!(texts[1].contains("Tienes 50 pts"), "{}", texts[1]);
    assert!(
        texts[2].contains("Pueden aplicar tarifas") && texts[2].contains("ALTO"),
        "{}",
        texts[2]
    );
    assert!(texts[3].contains("English"), "{}", texts[3]);
    assert!(texts[4].contains("You have 50 pts"), "{}", texts[4]);
}

#[tokio::test]
async fn portuguese_and_arabic_keywords_answer_in_their_language() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    app.text("+14155552601", "ENTRAR").await;
    app.text("+14155552602", "اشترك").await;
    app.text("+14155552602", "رصيد").await;
    app.drain_outbox().await;
    assert!(app.texts_to("+14155552601").await[0].contains("Bem-vindo"));
    let arabic = app.texts_to("+14155552602").await;
    assert!(arabic[0].contains("أهلاً"), "{}", arabic[0]);
    assert!(arabic[1].contains("رصيدك 50"), "{}", arabic[1]);
}

#[tokio::test]
async fn name_sets_the_first_name() {
    let app = spawn_app().await;
    joined(&app).await;
    app.text(PHONE, "NAME José").await;
    assert_eq!(app.member_json(PHONE).await["first_name"], "José");
    let texts = app.deliver_to(PHONE).await;
    assert!(texts[1].contains("Thanks, José!"), "{}", texts[1]);
}

#[tokio::test]
async fn an_unknown_text_gets_the_keyword_list_members_only() {
    let app = spawn_app().await;
    joined(&app).await;
    app.text(PHONE, "what's up").await;
    app.text("+14155550199", "what's up").await;
    app.drain_outbox().await;
    assert!(app.texts_to(PHONE).await[1].contains("Reply BAL"));
    assert!(app.texts_to("+14155550199").await.is_empty());
}

#[tokio::test]
async fn a_redelivered_message_is_processed_once_even_concurrently() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    let sid = new_sid();
    let responses =
        futures_util::future::join_all((0..20).map(|_| app.text_with_sid(PHONE, "JOIN", &sid)))
            .await;
    assert!(responses.iter().all(|r| r.status() == 200));
    app.text_with_sid(PHONE, "JOIN", &sid).await;
    assert_eq!(app.deliver_to(PHONE).await.len(), 1);
    let consent: Value = app.consent_json(PHONE).await;
    assert_eq!(consent["records"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn forged_or_missing_signatures_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let form = format!(
        "MessageSid={}&From=%2B14155552671&To=%2B15005550006&Body=JOIN",
        new_sid()
    );
    let post = |signature: Option<&'static str>, path: &'static str| {
        let mut request = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.clone());
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        request.send()
    };
    assert_problem(
        post(None, "/webhooks/twilio").await.unwrap(),
        400,
        "missing-signature",
    )
    .await;
    assert_problem(
        post(Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="), "/webhooks/twilio")
            .await
            .unwrap(),
        403,
        "invalid-signature",
    )
    .await;
    assert_problem(
        post(Some("bogus"), "/webhooks/twilio/status")
            .await
            .unwrap(),
        403,
        "invalid-signature",
    )
    .await;
    // Signed for another URL: the gateway checks against server.public_url.
    let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    let elsewhere = loyalty_gateway::inbound::signature::twilio_signature(
        AUTH_TOKEN,
        "http://attacker.test/webhooks/twilio",
        &params,
    );
    let response = app
        .client
        .post(app.url("/webhooks/twilio"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", elsewhere)
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "invalid-signature").await;
    assert!(app.keys().await.is_empty(), "nothing may be stored");
}

#[tokio::test]
async fn garbage_bodies_are_400_and_store_nothing() {
    let app = spawn_app().await;
    let cases: Vec<Vec<(String, String)>> = vec![
        vec![],
        vec![("Body".into(), "JOIN".into())],
        vec![
            ("MessageSid".into(), new_sid()),
            ("From".into(), PHONE.into()),
        ],
        vec![
            ("MessageSid".into(), new_sid()),
            ("To".into(), SENDER.into()),
            ("Body".into(), "x".into()),
        ],
    ];
    for params in cases {
        let response = app.post_twilio_form("/webhooks/twilio", &params).await;
        assert_problem(response, 400, "bad-request").await;
    }
    let raw = app
        .client
        .post(app.url("/webhooks/twilio"))
        .header("X-Twilio-Signature", "x")
        .body(vec![0xff, 0xfe, 0x00, 0x12])
        .send()
        .await
        .unwrap();
    assert_problem(raw, 403, "invalid-signature").await;
    assert!(app.keys().await.is_empty());
}

#[tokio::test]
async fn texts_to_unknown_numbers_from_our_own_numbers_or_short_codes_are_ignored() {
    let app = spawn_app().await;
    let to_elsewhere = form(&[
        ("MessageSid", new_sid().as_str()),
        ("From", PHONE),
        ("To", "+15005550009"),
        ("Body", "JOIN"),
    ]);
    assert_eq!(
        app.post_twilio_form("/webhooks/twilio", &to_elsewhere)
            .await
            .status(),
        200
    );
    app.text(SENDER, "JOIN").await;
    app.text("+15005550007", "HELP").await;
    app.text("22395", "JOIN").await;
    assert!(app.keys().await.is_empty(), "{:?}", app.keys().await);
}

#[tokio::test]
async fn delivery_statuses_never_move_backwards() {
    let app = spawn_app().await;
    joined(&app).await;
    app.drain_outbox().await;
    let sid = app.message("m1").await["provider_id"].clone();
    for s in ["delivered", "sent", "sending", "undelivered"] {
        assert_eq!(app.status_callback(&sid, s).await.status(), 200);
    }
    let message: Value = app
        .get("/v1/messages/m1", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(message["status"], "delivered");
    assert_eq!(message["template"], "welcome");
    assert_eq!(message["attempts"], 1);
    assert_eq!(message["segments"], 1);
    assert!(message["delivered_at"].is_string());
    // Final: the record keeps its outcome only, in the hash of its id's hundred (the text's
    // own key and its provider-id lookup are gone).
    for gone in ["body", "vars", "to", "provider_id"] {
        assert!(message.get(gone).is_none(), "{gone}: {message}");
    }
    let keys = loyalty_gateway::store::ProgramKeys::new(&app.prefix, &app.bloom().id);
    let mut conn = app.redis().await;
    let exists = |key: String| redis::cmd("EXISTS").arg(key).to_owned();
    let own_key: bool = exists(keys.message("m1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let sid_kept: bool = exists(keys.sid(&sid)).query_async(&mut conn).await.unwrap();
    assert!(!own_key && !sid_kept);
    let encoding: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(keys.final_messages("m1").unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();

    assert_eq!(encoding, "listpack");
    assert_eq!(app.get("/v1/messages/m1", POS_KEY).await.status(), 403);
    assert_problem(
        app.get("/v1/messages/m999", ADMIN_KEY).await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn the_consent_record_keeps_every_opt_in_and_opt_out() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    app.earn_ok(PHONE, 100, "R-1").await;
    let sid = new_sid();
    app.text_with_sid(PHONE, "yes", &sid).await;
    app.text(PHONE, "Stop please").await;
    let response = app
        .get(
            &format!("/v1/members/{}/consent", urlencode(PHONE)),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(response.status(), 200);
    let consent: Value = response.json().await.unwrap();
    assert_eq!(consent["status"], "opted_out");
    let records = consent["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["action"], "opt_out");
    assert_eq!(records[0]["text"], "Stop please");
    assert_eq!(records[1]["action"], "opt_in");
    assert_eq!(records[1]["channel"], "sms");
    assert_eq!(records[1]["message_id"], sid);
    assert_eq!(records[2]["action"], "enrolled_pending");
    assert_eq!(records[2]["channel"], "pos");
    assert!(records.iter().all(|r| r["at"].is_string()));
    let pos = app
        .get(
            &format!("/v1/members/{}/consent", urlencode(PHONE)),
            POS_KEY,
        )
        .await;
    assert_problem(pos, 403, "forbidden").await;
}

#[tokio::test]
async fn a_flood_is_rate_limited_but_stop_always_gets_through() {
    let app = spawn_app_with(|s| s.sms.inbound_per_minute = 3).await;
    twilio_accepts_everything(&app).await;
    app.text(PHONE, "JOIN").await;
    for _ in 0..10 {
        app.text(PHONE, "BAL").await;
    }
    // Delivered before the STOP: after it, queued replies would (rightly) be suppressed.
    assert_eq!(
        app.deliver_to(PHONE).await.len(),
        3,
        "welcome and two balances"
    );
    app.text(PHONE, "STOP").await;
    assert_eq!(app.member_json(PHONE).await["status"], "opted_out");
    let texts = app.deliver_to(PHONE).await;
    assert_eq!(
        texts.len(),
        1 + 2 + 1,
        "welcome, two balances, the confirmation: {texts:?}"
    );
}

#[tokio::test]
async fn replies_per_member_are_capped_per_hour() {
    let app = spawn_app_with(|s| {
        s.sms.inbound_per_minute = 1000;
        s.sms.max_replies_per_hour = 3;
    })
    .await;
    twilio_accepts_everything(&app).await;
    app.text(PHONE, "JOIN").await;
    for _ in 0..5 {
        app.text(PHONE, "HELP").await;
    }
    assert_eq!(
        app.deliver_to(PHONE).await.len(),
        3,
        "welcome and two helps"
    );
    app.text(PHONE, "STOP").await;
    assert_eq!(
        app.deliver_to(PHONE).await.len(),
        4,
        "the STOP confirmation is exempt"
    );
    app.clock.advance(chrono::Duration::hours(1));
    app.text(PHONE, "HELP").await;
    assert_eq!(
        app.deliver_to(PHONE).await.len(),
        5,
        "a new hour, a new allowance"
    );
}

#[tokio::test]
async fn the_twilio_webhook_is_off_without_an_auth_token() {
    let app = spawn_app_with(|s| s.sms.twilio.auth_token = secrecy::SecretString::from("")).await;
    let response = app.text_with_sid(PHONE, "JOIN", &new_sid()).await;
    assert_problem(response, 404, "not-found").await;
    let telnyx = app
        .client
        .post(app.url("/webhooks/telnyx"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(telnyx, 404, "not-found").await;
}

#[tokio::test]
async fn no_inbound_body_makes_the_webhook_fail() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let app = spawn_app_with(|s| s.sms.inbound_per_minute = 10_000).await;
    twilio_accepts_everything(&app).await;
    let mut runner = TestRunner::deterministic();
    let strategy = "\\PC{0,200}";
    for _ in 0..64 {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        let response = app.text_with_sid(PHONE, &body, &new_sid()).await;
        assert_eq!(response.status(), 200, "{body:?}");
    }
    app.drain_outbox().await;
}

/// The flood drill: 10,000 texts from one phone, half through each of two processes, 32 at a
/// time. The limit is kept in Redis, so together they handle no more than one process may.
#[tokio::test]
async fn a_flood_through_two_processes_is_held_to_one_limit_and_a_new_minute_allows_more() {
    use futures_util::StreamExt;
    let app = spawn_app_with(|s| s.sms.inbound_per_minute = 5).await;
    let second = spawn_second_process(&app, |s| s.sms.inbound_per_minute = 5).await;
    twilio_accepts_everything(&app).await;
    // However long the flood takes on a loaded machine, no time passes for the limit.
    app.clock.freeze();
    second.clock.freeze();
    app.text(PHONE, "JOIN").await;
    let flood = 10_000;
    let statuses: Vec<u16> = futures_util::stream::iter(0..flood)
        .map(|i| {
            let process = if i % 2 == 0 { &app } else { &second };
            async move { process.text(PHONE, "BAL").await.status().as_u16() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    assert_eq!(
        app.deliver_to(PHONE).await.len(),
        5,
        "the welcome and four balances: five texts a minute in all"
    );
    let ignored: f64 = [&app, &second]
        .into_iter()
        .map(|p| async move {
            sample(
                &scrape(p).await,
                "loyalty_inbound_ignored_total",
                &[("reason", "rate_limited")],
            )
            .unwrap_or(0.0)
        })
        .collect::<futures_util::stream::FuturesOrdered<_>>()
        .collect::<Vec<f64>>()
        .await
        .into_iter()
        .sum();
    assert_eq!(ignored, f64::from(flood - 4));

    app.clock.advance(chrono::Duration::seconds(12));
    app.text(PHONE, "BAL").await;
    app.text(PHONE, "BAL").await;
    assert_eq!(
        app.deliver_to(PHONE).await.len(),
        6,
        "12 s later, one more text (one every 60/5 s)"
    );
    app.text(PHONE, "STOP").await;
    assert_eq!(app.member_json(PHONE).await["status"], "opted_out");
}
