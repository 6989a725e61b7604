//! Events out: signed webhooks (Standard Webhooks), written with the change they report,
//! retried, dead-lettered and requeued.

use std::sync::Arc;

use loyalty_gateway::configuration::parse_str;
use loyalty_gateway::domain::WebhookEndpoint;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;

const PHONE: &str = "+14155552671";
/// A `whsec_` secret of 32 bytes.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";

/// An endpoint as `[[webhooks]]` makes it, at `url`, with these TOML lines added.
pub fn endpoint(url: &str, extra: &str) -> Arc<WebhookEndpoint> {
    let toml = format!(
        "{}\n[[webhooks]]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\nretry_schedule_secs = [5, 30]\n{extra}\n",
        config_toml("redis://127.0.0.1:6379/0", "p", "http://127.0.0.1:9")
    );
    parse_str(&toml).unwrap().webhooks.remove(0)
}

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

async fn received(server: &MockServer, at: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .collect()
}

fn payload(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn types(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| payload(r)["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn drain_events(app: &TestApp) -> usize {
    app.state.events.drain(&app.bloom()).await.unwrap()
}

/// Verifies each request with the Standard Webhooks reference library for Python
/// (`standardwebhooks`, installed by .ci/run): the signature, and the timestamp within its
/// tolerance. Returns what the library answered for each.
fn verified_by_reference_library(requests: &[Request]) -> Vec<String> {
    let cases: Vec<Value> = requests
        .iter()
        .map(|r| {
            let header = |name: &str| r.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
            json!({
                "body": String::from_utf8(r.body.clone()).unwrap(),
                "headers": {
                    "webhook-id": header("webhook-id"),
                    "webhook-timestamp": header("webhook-timestamp"),
                    "webhook-signature": header("webhook-signature"),
                },
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_string(&cases).unwrap()).unwrap();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
for case in json.load(open(sys.argv[2])):
    try:
        Webhook(sys.argv[1]).verify(case["body"], case["headers"])
        print("ok")
    except Exception as e:
        print(f"refused: {e}")
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script, SECRET])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the reference library did not run (pip install standardwebhooks==1.1.0): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn each_change_reaches_the_endpoints_that_want_it_signed_as_the_reference_library_checks() {
    let server = receiver().await;
    let all = endpoint(&format!("{}/all", server.uri()), "id = \"crm\"");
    let earned_only = endpoint(
        &format!("{}/earned", server.uri()),
        "id = \"pos-office\"\nevents = [\"points.earned\"]\ninclude_phone = true",
    );
    let app = spawn_app_with(|s| s.webhooks = vec![all, earned_only]).await;
    twilio_accepts_everything(&app).await;
    app.state.events.register(&app.bloom()).await.unwrap();

    app.text(PHONE, "JOIN").await;
    app.earn_ok(PHONE, 120_000, "R-1").await;
    let refund = app
        .reverse(json!({ "location": "store-12", "receipt": "R-1", "amount": 10_000, "refund_id": "F1" }))
        .await;
    assert_eq!(refund.status(), 200);
    let redeemed = app
        .redeem(json!({ "phone": PHONE, "location": "store-12", "receipt": "D-1", "reward": "r5" }))
        .await;
    assert_eq!(redeemed.status(), 200);
    // Enough for the $25 reward, which is issued automatically.
    app.earn_ok(PHONE, 500_000, "R-2").await;
    app.text(PHONE, "STOP").await;
    drain_events(&app).await;

    let to_all = received(&server, "/all").await;
    assert_eq!(
        types(&to_all),
        [
            "member.joined",
            "member.opted_in",
            "points.earned",
            "points.earned",
            "points.reversed",
            "points.redeemed",
            "reward.redeemed",
            "points.earned",
            "points.redeemed",
            "reward.issued",
            "member.opted_out",
        ],
        "in the order the changes were made (an earn reaching a reward issues its code)"
    );
    let earned = payload(&to_all[3]);
    assert_eq!(earned["data"]["points"], 1200);
    assert_eq!(earned["data"]["amount"], 120_000);
    assert_eq!(earned["data"]["location"], "store-12");
    assert_eq!(earned["data"]["program"], "bloom");
    // Without include_phone, a member is a stable reference, never the number.
    let member = earned["data"]["member"].as_str().unwrap().to_owned();
    assert!(member.starts_with("mem_"), "{member}");
    for request in &to_all {
        let body = String::from_utf8(request.body.clone()).unwrap();
        assert!(!body.contains(&PHONE[2..]), "{body}");
        assert_eq!(payload(request)["data"]["member"], member.as_str());
    }
    let to_office = received(&server, "/earned").await;
    assert_eq!(
        types(&to_office),
        ["points.earned", "points.earned", "points.earned"]
    );
    assert_eq!(payload(&to_office[1])["data"]["phone"], PHONE);

    // One event, one webhook-id, whichever endpoints get it.
    let id_of = |r: &Request| r.headers["webhook-id"].to_str().unwrap().to_owned();
    assert_eq!(id_of(&to_all[3]), id_of(&to_office[1]));
    let ids: std::collections::HashSet<String> = to_all.iter().map(id_of).collect();
    assert_eq!(ids.len(), to_all.len());
    for request in to_all.iter().chain(&to_office) {
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let verdicts = verified_by_reference_library(&to_all);
    assert_eq!(verdicts, vec!["ok"; to_all.len()]);
    // A body changed in transit is refused by the same library.
    let mut tampered = to_all[3].clone();
    tampered.body = tampered
        .body
        .iter()
        .map(|b| if *b == b'2' { b'3' } else { *b })
        .collect();
    assert_eq!(
        verified_by_reference_library(&[tampered]),
        ["refused: No matching signature found"]
    );
}

#[tokio::test]
async fn no_event_is_written_for_a_change_that_did_not_happen() {
    let server = receiver().await;
    let app = spawn_app_with(|s| s.webhooks = vec![endpoint(&server.uri(), "")]).await;
    app.state.events.register(&app.bloom()).await.unwrap();
    app.earn_ok(PHONE, 1000, "R-1").await;
    // A replay and a conflicting reuse of the receipt change nothing, so they report nothing.
    app.earn_ok(PHONE, 1000, "R-1").await;
    let conflict = app
        .earn(json!({ "phone": PHONE, "amount": 999, "location": "store-12", "receipt": "R-1" }))
        .await;
    assert_eq!(conflict.status(), 409);
    let too_dear = app
        .redeem(
            json!({ "phone": PHONE, "location": "store-12", "receipt": "D-1", "reward": "r25" }),
        )
        .await;
    assert_eq!(too_dear.status(), 409);
    drain_events(&app).await;
    assert_eq!(
        types(&server.received_requests().await.unwrap()),
        ["member.joined", "points.earned"]
    );
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_on_schedule_then_dead_lettered_and_requeued_by_an_admin() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let hook = endpoint(
        &format!("{}/hook", server.uri()),
        "id = \"crm\"\nevents = [\"points.earned\"]",
    );
    let app = spawn_app_with(|s| s.webhooks = vec![hook]).await;
    app.state.events.register(&app.bloom()).await.unwrap();
    app.earn_ok(PHONE, 1000, "R-1").await;

    assert_eq!(drain_events(&app).await, 1, "the first attempt");
    assert_eq!(drain_events(&app).await, 0, "the retry waits 5 s");
    app.clock.advance(chrono::Duration::seconds(5));
    assert_eq!(drain_events(&app).await, 1, "the second attempt");
    app.clock.advance(chrono::Duration::seconds(29));
    assert_eq!(drain_events(&app).await, 0, "the next waits 30 s");
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(drain_events(&app).await, 1, "the last attempt");
    app.clock.advance(chrono::Duration::days(1));
    assert_eq!(drain_events(&app).await, 0, "dead: no more attempts");
    let attempts = server.received_requests().await.unwrap();
    assert_eq!(attempts.len(), 3);
    let id = attempts[0].headers["webhook-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(attempts
        .iter()
        .all(|r| r.headers["webhook-id"] == id.as_str()));

    let states: Value = app
        .get("/v1/webhooks", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            &states[0]["id"],
            &states[0]["queued"],
            &states[0]["retrying"],
            &states[0]["dead"]
        ),
        (&json!("crm"), &json!(0), &json!(0), &json!(1))
    );
    assert_eq!(states[0]["events"], json!(["points.earned"]));
    let dead: Value = app
        .get("/v1/webhooks/crm/dead-letters", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&dead[0]["id"], &dead[0]["type"], &dead[0]["attempts"]),
        (&json!(id), &json!("points.earned"), &json!(3))
    );
    assert_eq!(
        dead[0]["error"],
        "the endpoint answered 500 Internal Server Error"
    );

    // The endpoint is fixed; an admin sends the event again, under the same webhook-id.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let requeued = app
        .post(
            &format!("/v1/webhooks/crm/dead-letters/{id}/requeue"),
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(requeued.status(), 202);
    assert_eq!(drain_events(&app).await, 1);
    let delivered = server.received_requests().await.unwrap();
    assert_eq!(delivered[0].headers["webhook-id"], id.as_str());
    let states: Value = app
        .get("/v1/webhooks", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(states[0]["dead"], 0);
    assert_problem(
        app.post(
            &format!("/v1/webhooks/crm/dead-letters/{id}/requeue"),
            ADMIN_KEY,
            &json!({}),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.get("/v1/webhooks/nope/dead-letters", ADMIN_KEY).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.get("/v1/webhooks", MARKETING_KEY).await,
        403,
        "forbidden",
    )
    .await;
}

#[test]
fn webhook_settings_are_checked_and_name_the_key_at_fault() {
    let with = |lines: &str| {
        format!(
            "{}\n[[webhooks]]\n{lines}\n",
            config_toml("redis://127.0.0.1:6379/0", "p", "http://127.0.0.1:9")
        )
    };
    let error = |lines: &str| format!("{:#}", parse_str(&with(lines)).unwrap_err());
    let message = error(&format!("url = \"ftp://x\"\nsecret = \"{SECRET}\""));
    assert!(message.contains("webhooks[0].url"), "{message}");
    let message = error("url = \"https://crm.example/h\"\nsecret = \"s3cret-not-whsec\"");
    assert!(
        message.contains("webhooks[0].secret") && message.contains("whsec_"),
        "{message}"
    );
    assert!(
        !message.contains("s3cret-not-whsec"),
        "the secret is never printed: {message}"
    );
    let message = error(&format!(
        "url = \"https://crm.example/h\"\nsecret = \"{SECRET}\"\nevents = [\"points.earn\"]"
    ));
    assert!(
        message.contains("did you mean \"points.earned\""),
        "{message}"
    );
    let message = error(&format!(
        "url = \"https://crm.example/h\"\nsecret = \"{SECRET}\"\nprograms = [\"nope\"]"
    ));
    assert!(message.contains("webhooks[0].programs"), "{message}");
    let twice = format!(
        "url = \"https://crm.example/a\"\nsecret = \"{SECRET}\"\nid = \"crm\"\n[[webhooks]]\n\
         url = \"https://crm.example/b\"\nsecret = \"{SECRET}\"\nid = \"crm\""
    );
    assert!(error(&twice).contains("\"crm\" is used twice"));
    let settings = parse_str(&with(&format!(
        "url = \"https://crm.example/h\"\nsecret = \"{SECRET}\""
    )))
    .unwrap();
    let debug = format!("{:?}", settings.webhooks[0]);
    assert!(!debug.contains("MfKQ9r8"), "{debug}");
}

#[tokio::test]
async fn an_endpoint_dropped_from_the_configuration_gets_no_more_events_and_loses_its_queue() {
    let server = receiver().await;
    let app = spawn_app_with(|s| s.webhooks = vec![endpoint(&server.uri(), "id = \"crm\"")]).await;
    app.state.events.register(&app.bloom()).await.unwrap();
    app.earn_ok(PHONE, 1000, "R-1").await;
    let queue = format!("{}:{{bloom}}:hook:crm", app.prefix);
    let queued = || async {
        redis::cmd("XLEN")
            .arg(&queue)
            .query_async::<i64>(&mut app.redis().await)
            .await
            .unwrap()
    };
    assert_eq!(
        queued().await,
        2,
        "member.joined and points.earned wait for delivery"
    );
    // A serve started with the endpoint removed from [[webhooks]].
    let other = spawn_second_process(&app, |s| s.webhooks.clear()).await;
    other.state.events.register(&other.bloom()).await.unwrap();
    assert_eq!(queued().await, 0);
    app.earn_ok(PHONE, 1000, "R-2").await;
    assert_eq!(queued().await, 0);
    assert!(app.keys().await.iter().all(|k| !k.contains(":hook")));
}
