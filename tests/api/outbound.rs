//! The sender against a Twilio played by wiremock, in Twilio's wire format.

use serde_json::{json, Value};
use wiremock::matchers::{basic_auth, body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const PHONE: &str = "+14155552671";

async fn message_status(app: &TestApp, id: &str) -> String {
    let program = app.bloom();
    let record = app
        .state
        .outbox
        .message(&program, id)
        .await
        .unwrap()
        .unwrap();
    record["status"].clone()
}

#[tokio::test]
async fn a_text_reaches_twilio_in_its_wire_format() {
    let app = spawn_app().await;
    twilio_send()
        .and(basic_auth(ACCOUNT_SID, AUTH_TOKEN))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("To=%2B14155552671"))
        .and(body_string_contains("From=%2B15005550006"))
        .and(body_string_contains(
            "StatusCallback=http%3A%2F%2Fgateway.test%2Fwebhooks%2Ftwilio%2Fstatus",
        ))
        .respond_with(twilio_created("SM1"))
        .expect(1)
        .mount(&app.twilio)
        .await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    assert_eq!(app.drain_outbox().await, 1);
    let texts = app.sent_texts().await;
    assert!(texts[0].1.starts_with("Bloom Rewards:"), "{}", texts[0].1);
    assert_eq!(message_status(&app, "m1").await, "sent");
}

#[tokio::test]
async fn a_provider_error_then_success_is_delivered_exactly_once() {
    let app = spawn_app().await;
    twilio_send()
        .respond_with(twilio_error(503, 20500, "Internal Server Error"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.twilio)
        .await;
    twilio_accepts_everything(&app).await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    assert_eq!(
        message_status(&app, "m1").await,
        "queued",
        "scheduled for a retry"
    );
    // Not due yet: nothing more is sent.
    app.drain_outbox().await;
    assert_eq!(app.twilio.received_requests().await.unwrap().len(), 1);
    app.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(app.drain_outbox().await, 1);
    assert_eq!(message_status(&app, "m1").await, "sent");
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.drain_outbox().await, 0);
    assert_eq!(app.twilio.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn twilio_21610_marks_the_member_opted_out_without_retrying() {
    let app = spawn_app().await;
    twilio_send()
        .respond_with(twilio_error(
            400,
            21610,
            "Attempt to send to unsubscribed recipient",
        ))
        .expect(1)
        .mount(&app.twilio)
        .await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    assert_eq!(message_status(&app, "m1").await, "failed");
    assert_eq!(app.member_json(PHONE).await["status"], "opted_out");
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.drain_outbox().await, 0);
}

#[tokio::test]
async fn an_undeliverable_number_is_not_retried() {
    let app = spawn_app().await;
    twilio_send()
        .respond_with(twilio_error(
            400,
            21614,
            "'To' number is not a valid mobile number",
        ))
        .expect(1)
        .mount(&app.twilio)
        .await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    assert_eq!(message_status(&app, "m1").await, "failed");
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.drain_outbox().await, 0);
}

/// A member who opted in by text, so receipts are texted.
async fn active_member(app: &TestApp) {
    app.text(PHONE, "JOIN").await;
}

#[tokio::test]
async fn sends_are_throttled_by_segments_on_a_schedule_shared_through_redis() {
    use governor::Quota;
    use std::num::NonZeroU32;
    use std::time::Duration;
    let app = spawn_app().await;
    let second = spawn_second_process(&app, |_| {}).await;
    app.clock.set("2026-11-18T12:00:00Z".parse().unwrap());
    second.clock.set("2026-11-18T12:00:00Z".parse().unwrap());
    let one_per_second = Quota::per_second(NonZeroU32::new(1).unwrap());
    let program = app.bloom();
    let max = Duration::from_secs(60);
    let reserve = |app: &TestApp, cells: u32| {
        let program = program.clone();
        let state = app.state.clone();
        async move {
            state
                .outbox
                .reserve(&program, SENDER, &one_per_second, cells, max)
                .await
                .unwrap()
        }
    };
    // The clocks stand still between calls only to the millisecond, so compare to the second.
    let secs = |r: Result<Duration, Duration>| {
        let round = |d: Duration| (d.as_millis() + 500) / 1000;
        r.map(round).map_err(round)
    };
    // A 3-segment text takes three cells: it may go once three seconds' worth are free.
    assert_eq!(secs(reserve(&app, 3).await), Ok(2));
    // The second process draws on the same schedule.
    assert_eq!(secs(reserve(&second, 1).await), Ok(3));
    assert_eq!(secs(reserve(&app, 1).await), Ok(4));
    // A slot further away than the caller may wait is refused, and nothing is reserved.
    let refused = second
        .state
        .outbox
        .reserve(&program, SENDER, &one_per_second, 1, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(secs(refused), Err(5));
    assert_eq!(secs(reserve(&second, 1).await), Ok(5));
    // Another number has its own schedule.
    let other = app
        .state
        .outbox
        .reserve(&program, "+15005550099", &one_per_second, 1, max)
        .await
        .unwrap();
    assert_eq!(secs(other), Ok(0));
    // Once the schedule has passed, the burst is available again.
    app.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(secs(reserve(&app, 1).await), Ok(0));

    // A worker's batch reserves in one call, in order: the first text whose slot is further away
    // than the caller may wait is refused, and so is every text after it, even a shorter one.
    app.clock.advance(chrono::Duration::seconds(10));
    let batch = app
        .state
        .outbox
        .reserve_batch(
            &program,
            SENDER,
            &one_per_second,
            &[1, 2, 3, 1],
            Duration::from_secs(4),
        )
        .await
        .unwrap();
    let batch: Vec<_> = batch.into_iter().map(secs).collect();
    assert_eq!(batch, [Ok(0), Ok(2), Err(5), Err(5)]);
    // What was refused was not reserved: the next text takes the slot after the second.
    assert_eq!(secs(reserve(&app, 1).await), Ok(3));
}

/// A sender held up past its texts' send slots (here its thread blocks, as a stalled machine or
/// a process that gets no CPU would hold it) gives those texts new slots rather than sending
/// them at once with the texts due after them, which would put more texts in a second at the
/// provider than the rate allows. Every text is still sent, once.
#[tokio::test]
async fn texts_whose_send_slots_passed_while_the_sender_was_held_up_take_new_slots() {
    use loyalty_gateway::domain::PhoneNumber;
    use loyalty_gateway::store::scripts::outbox::MessageKind;
    use std::time::Duration;
    let app = spawn_app_with(|s| {
        s.sms.messages_per_second = 50.0;
        s.sms.burst = 1;
    })
    .await;
    twilio_accepts_everything(&app).await;
    let program = app.bloom();
    for i in 0..5 {
        let phone = PhoneNumber::parse_e164(&format!("+1415555270{i}")).unwrap();
        app.state
            .outbox
            .enqueue(
                &program,
                &phone,
                MessageKind::ReplyAny,
                "help",
                &json!({}),
                Duration::from_secs(3600),
            )
            .await
            .unwrap();
    }
    app.state.outbox.ensure_group(&program).await.unwrap();
    let batch = app
        .state
        .outbox
        .read_new(&app.state.store, &program, "held-up", 10, None)
        .await
        .unwrap();
    assert_eq!(batch.len(), 5);
    // Slots 20 ms apart from the first text's; once it has reached the provider, the test's one
    // thread (the sender's too) blocks for longer than the other four slots take.
    let hold_up = async {
        while app.sent_texts().await.is_empty() {
            tokio::task::yield_now().await;
        }
        std::thread::sleep(Duration::from_millis(150));
    };
    let (processed, ()) =
        tokio::join!(app.sender().process(&program, &batch, batch.len()), hold_up);
    processed.unwrap();

    let sent = app.sent_texts().await;
    let mut recipients: Vec<&str> = sent.iter().map(|(to, _)| to.as_str()).collect();
    recipients.sort_unstable();
    recipients.dedup();
    assert_eq!((sent.len(), recipients.len()), (5, 5), "each text once");
    let missed = sample(&scrape(&app).await, "loyalty_send_slots_missed_total", &[]);
    assert!(
        missed.is_some_and(|n| n >= 3.0),
        "the texts whose slots passed took new ones: {missed:?}"
    );
}

#[tokio::test]
async fn a_429_waits_at_least_retry_after() {
    let app = spawn_app().await;
    twilio_send()
        .respond_with(
            twilio_error(429, 20429, "Too Many Requests").insert_header("Retry-After", "120"),
        )
        .up_to_n_times(1)
        .mount(&app.twilio)
        .await;
    twilio_accepts_everything(&app).await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    let record = app.message("m1").await;
    assert_eq!(record["status"], "queued");
    let retry_at: i64 = record["retry_at_ms"].parse().unwrap();
    let wait = retry_at - app.clock.now().timestamp_millis();
    assert!(
        (115_000..=121_000).contains(&wait),
        "waits ~Retry-After, not the 5 s schedule: {wait}"
    );
    app.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(app.drain_outbox().await, 0);
    app.clock.advance(chrono::Duration::seconds(65));
    assert_eq!(app.drain_outbox().await, 1);
    assert_eq!(message_status(&app, "m1").await, "sent");
}

#[tokio::test]
async fn a_provider_that_never_answers_is_tried_again_and_nothing_more_once_it_accepts() {
    let app = spawn_app_with(|s| {
        s.sms.http_timeout_ms = 300;
        s.sms.visibility_timeout_ms = 5_000;
    })
    .await;
    twilio_send()
        .respond_with(twilio_created("SM1").set_delay(std::time::Duration::from_secs(5)))
        .up_to_n_times(1)
        .mount(&app.twilio)
        .await;
    twilio_send()
        .respond_with(twilio_created("SM2"))
        .expect(1)
        .mount(&app.twilio)
        .await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    let record = app.message("m1").await;
    assert_eq!(record["status"], "queued");
    assert!(record["error"].contains("request failed"), "{record:?}");
    app.clock.advance(chrono::Duration::seconds(10));
    app.drain_outbox().await;
    let record = app.message("m1").await;
    assert_eq!(record["status"], "sent");
    assert_eq!(record["provider_id"], "SM2");
    assert_eq!(record["attempts"], "2");
    // Later drains send nothing more. The provider saw two requests: the timed-out one (it
    // may have gone out: a timeout cannot tell) and the retry. A third would show here.
    app.clock.advance(chrono::Duration::minutes(10));
    app.drain_outbox().await;
    assert_eq!(app.texts_to(PHONE).await.len(), 2);
}

#[tokio::test]
async fn a_crashed_workers_message_is_reclaimed_after_the_visibility_timeout_and_sent_once() {
    use std::time::Duration;
    let app = spawn_app().await;
    twilio_send()
        .respond_with(twilio_created("SM1"))
        .expect(1)
        .mount(&app.twilio)
        .await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    let program = app.bloom();
    // A worker claims the message and dies before acknowledging it.
    let claimed = app
        .state
        .outbox
        .claim(&program, "crashed-worker", 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        app.drain_outbox().await,
        0,
        "claimed entries are not handed out again"
    );
    // Within the visibility timeout nobody takes it over...
    let early = app
        .state
        .outbox
        .reclaim(&program, "rescuer", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(early.is_empty());
    // ...after it, another worker does, and sends it.
    let late = app
        .state
        .outbox
        .reclaim(&program, "rescuer", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(late, claimed);
    app.sender().process(&program, &late[..1], 1).await.unwrap();
    assert_eq!(message_status(&app, "m1").await, "sent");
    assert!(app
        .state
        .outbox
        .reclaim(&program, "another", Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    // A reclaimed copy of an already-sent message is not sent again.
    app.sender().process(&program, &late[..1], 1).await.unwrap();
    assert_eq!(app.twilio.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_last_failure_is_dead_lettered_and_can_be_requeued() {
    let app = spawn_app().await;
    twilio_send()
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(4)
        .expect(4)
        .mount(&app.twilio)
        .await;
    twilio_accepts_everything(&app).await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    // The test schedule is [5, 30, 120] s: four attempts in all.
    for _ in 0..4 {
        app.drain_outbox().await;
        app.clock.advance(chrono::Duration::seconds(200));
    }
    let record = app.message("m1").await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["attempts"], "4");
    let dead: Vec<Value> = app
        .get("/v1/dead-letters", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["id"], "m1");
    assert_eq!(app.get("/v1/dead-letters", POS_KEY).await.status(), 403);
    let requeued = app
        .post("/v1/dead-letters/m1/requeue", ADMIN_KEY, &json!({}))
        .await;
    assert_eq!(requeued.status(), 202);
    app.drain_outbox().await;
    assert_eq!(message_status(&app, "m1").await, "sent");
    let dead: Vec<Value> = app
        .get("/v1/dead-letters", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert!(dead.is_empty());
    let again = app
        .post("/v1/dead-letters/m1/requeue", ADMIN_KEY, &json!({}))
        .await;
    assert_problem(again, 404, "not-found").await;
}

#[tokio::test]
async fn telnyx_gets_json_with_a_bearer_key_and_its_stop_error_opts_out() {
    let telnyx = wiremock::MockServer::start().await;
    let uri = telnyx.uri();
    let app = spawn_app_with(move |s| {
        s.sms.provider = loyalty_gateway::configuration::ProviderKind::Telnyx;
        s.sms.telnyx.base_url = uri;
        s.sms.telnyx.api_key = secrecy::SecretString::from("KEY0123");
    })
    .await;
    Mock::given(method("POST"))
        .and(path("/v2/messages"))
        .and(header("authorization", "Bearer KEY0123"))
        .and(wiremock::matchers::body_partial_json(
            json!({ "from": SENDER, "to": PHONE }),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "id": "40385f64-5717-4562-b3fc-2c963f66afa6" } })),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&telnyx)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/messages"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({ "errors": [{ "code": "40300", "title": "Blocked due to STOP message" }] }),
        ))
        .mount(&telnyx)
        .await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    assert_eq!(
        app.message("m1").await["provider_id"],
        "40385f64-5717-4562-b3fc-2c963f66afa6"
    );
    app.text(PHONE, "YES").await;
    app.drain_outbox().await;
    assert_eq!(app.member_json(PHONE).await["status"], "opted_out");
}

#[tokio::test]
async fn marketing_texts_wait_for_the_recipients_daytime() {
    let app = spawn_app().await;
    // 03:00 in San Francisco (UTC-8): marketing must wait until 08:00.
    app.clock.set("2026-11-18T11:00:00Z".parse().unwrap());
    twilio_accepts_everything(&app).await;
    active_member(&app).await;
    app.drain_outbox().await;
    let program = app.bloom();
    let phone = loyalty_gateway::domain::PhoneNumber::parse_e164(PHONE).unwrap();
    let id = app
        .state
        .outbox
        .enqueue(
            &program,
            &phone,
            loyalty_gateway::store::scripts::outbox::MessageKind::Marketing,
            "campaign",
            &json!({ "body": "{{ program }}: double points this weekend! Reply STOP to opt out" }),
            std::time::Duration::from_secs(86_400),
        )
        .await
        .unwrap();
    // Transactional texts are not held back.
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    let record = app.message(&id).await;
    assert_eq!(record["status"], "deferred");
    assert_eq!(
        record["retry_at_ms"],
        "2026-11-18T16:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp_millis()
            .to_string()
    );
    assert_eq!(
        app.texts_to(PHONE).await.len(),
        2,
        "welcome and the receipt"
    );
    app.clock.set("2026-11-18T16:00:01Z".parse().unwrap());
    app.drain_outbox().await;
    assert_eq!(app.message(&id).await["status"], "sent");
    let texts = app.texts_to(PHONE).await;
    assert_eq!(
        texts[2],
        "Bloom Rewards: double points this weekend! Reply STOP to opt out"
    );
}

#[tokio::test]
async fn a_members_texts_and_their_states_show_in_their_history() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    active_member(&app).await;
    app.earn_ok(PHONE, 1250, "R-1").await;
    app.drain_outbox().await;
    let messages: Vec<Value> = app
        .get(
            &format!("/v1/members/{}/messages", urlencode(PHONE)),
            ADMIN_KEY,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["template"], "earn");
    assert_eq!(messages[0]["status"], "sent");
    assert_eq!(messages[0]["segments"], 1);
    assert_eq!(messages[1]["template"], "welcome");
    // The ledger entry that caused a text names it, with its state now.
    let history = app.history(PHONE).await;
    assert_eq!(history[0]["type"], "earn");
    assert_eq!(history[0]["message_id"], messages[0]["id"]);
    assert_eq!(history[0]["message_status"], "sent");
    // Each text has its own provider id, so a callback moves exactly one of them.
    let earn_sid = messages[0]["provider_id"].as_str().unwrap();
    assert_ne!(earn_sid, messages[1]["provider_id"].as_str().unwrap());
    assert_eq!(
        app.status_callback(earn_sid, "delivered").await.status(),
        200
    );
    assert_eq!(app.history(PHONE).await[0]["message_status"], "delivered");
    assert_eq!(
        app.message(messages[1]["id"].as_str().unwrap()).await["status"],
        "sent"
    );
    // The welcome came from the SMS join, whose ledger entry names no text.
    assert!(history[1].get("message_id").is_none());
}
