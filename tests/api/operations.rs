use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness_answer_without_a_key() {
    let app = spawn_app().await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn every_documented_operation_is_a_route_and_the_core_ones_are_documented() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/earn", "post"),
        ("/v1/redeem", "post"),
        ("/v1/reverse", "post"),
        ("/v1/redeem/void", "post"),
        ("/v1/members/{phone}", "get"),
        ("/v1/members/{phone}/history", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    // Routes and document come from one list: every documented operation answers as itself,
    // never as the fallback for unknown paths (404 "no such endpoint") or other methods (405).
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{phone}", "+14155552671")
            .replace("{id}", "m1")
            .replace("{endpoint}", "crm");
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .client
                .request(method.clone(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path}");
            assert!(
                !body.contains("no such endpoint"),
                "{method} {path} is documented but not routed"
            );
            operations += 1;
        }
    }
    assert!(operations >= 18, "{operations} operations");
    assert!(doc["components"]["schemas"]["EarnRequest"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

#[tokio::test]
async fn metrics_count_requests_sends_redis_calls_and_inbound_commands_and_read_queue_depths() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    app.earn_ok("+14155552671", 1250, "R-1").await;

    let text = scrape(&app).await;
    assert!(
        text.contains("# TYPE loyalty_earns_total counter"),
        "{text}"
    );
    assert_eq!(sample(&text, "loyalty_earns_total", &[]), Some(1.0));
    // The earn's text waits in the outbox until a worker sends it.
    let bloom = [("program", "bloom")];
    assert_eq!(sample(&text, "loyalty_outbox_depth", &bloom), Some(1.0));
    assert_eq!(
        sample(&text, "loyalty_outbox_dead_letters", &bloom),
        Some(0.0)
    );
    assert_eq!(sample(&text, "loyalty_redis_up", &[]), Some(1.0));
    let earn_route = [("route", "/v1/earn"), ("method", "POST"), ("status", "200")];
    assert_eq!(
        sample(&text, "loyalty_http_requests_total", &earn_route),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "loyalty_http_request_duration_seconds_count",
            &[("route", "/v1/earn"), ("method", "POST")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "loyalty_redis_call_duration_seconds_count",
            &[("op", "earn")]
        ),
        Some(1.0)
    );

    app.drain_outbox().await;
    app.earn_ok("+14155552671", 1250, "R-1").await;
    app.text("+14155552671", "BAL").await;
    app.text("+14155552671", "HELP").await;
    app.text("+14155552671", "bal").await;
    assert_eq!(app.member("+14155552671").await.status(), 200);
    let outbox = loyalty_gateway::store::ProgramKeys::new(&app.prefix, &app.bloom().id).outbox();
    let queued: u64 = redis::cmd("XLEN")
        .arg(&outbox)
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
    let text = scrape(&app).await;
    assert!(queued >= 1);
    assert_eq!(
        sample(&text, "loyalty_outbox_depth", &bloom),
        Some(queued as f64)
    );
    assert_eq!(sample(&text, "loyalty_earn_replays_total", &[]), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "loyalty_sends_total",
            &[("provider", "twilio"), ("outcome", "sent")]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            "loyalty_segments_sent_total",
            &[("provider", "twilio")]
        ) >= Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "loyalty_inbound_messages_total",
            &[("command", "balance")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "loyalty_inbound_messages_total",
            &[("command", "help")]
        ),
        Some(1.0)
    );
    // A phone in the path is counted under its route template, never as a label value.
    assert_eq!(
        sample(
            &text,
            "loyalty_http_requests_total",
            &[("route", "/v1/members/{phone}"), ("status", "200")]
        ),
        Some(1.0)
    );
    assert!(!text.contains("4155552671"), "{text}");
}

#[tokio::test]
async fn metrics_count_unmatched_paths_under_one_label() {
    let app = spawn_app().await;
    for path in ["/nope/1", "/nope/2"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            "loyalty_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(2.0)
    );
    assert!(!text.contains("/nope"), "{text}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_echoed_when_the_client_sent_one() {
    let app = spawn_app().await;
    let sent = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "till-7:req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.headers()["x-request-id"], "till-7:req-42");
    // Errors too, and a usable id replaces one that is not.
    let error = app
        .client
        .post(app.url("/v1/earn"))
        .header("X-Request-Id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_eq!(error.status(), 401);
    let generated = error.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "{generated}");
    assert!(generated.chars().all(|c| c.is_ascii_hexdigit()));
    let other = app.get("/v1/nothing", POS_KEY).await;
    assert_ne!(other.headers()["x-request-id"], generated.as_str());
}

#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_405_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (reqwest::Method::GET, "/v1/earn", "POST"),
        (
            reqwest::Method::DELETE,
            "/v1/members/+14155552671/history",
            "GET",
        ),
        (reqwest::Method::POST, "/healthz", "GET"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(POS_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert_problem(response, 405, "method-not-allowed").await;
    }
    assert_problem(app.get("/v1/earnings", POS_KEY).await, 404, "not-found").await;
}

#[tokio::test]
async fn the_documented_request_limits_are_the_ones_the_code_enforces() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/openapi.json", POS_KEY)
        .await
        .json()
        .await
        .unwrap();
    let schema =
        |name: &str, field: &str| doc["components"]["schemas"][name]["properties"][field].clone();
    assert_eq!(
        schema("EarnRequest", "receipt")["pattern"],
        loyalty_gateway::domain::CLIENT_KEY_PATTERN
    );
    assert_eq!(
        schema("EarnRequest", "location")["pattern"],
        loyalty_gateway::domain::SLUG_PATTERN
    );
    assert_eq!(
        schema("RedeemRequest", "code")["pattern"],
        loyalty_gateway::domain::CODE_PATTERN
    );
    assert_eq!(
        schema("EarnRequest", "amount")["maximum"],
        loyalty_gateway::domain::Amount::MAX
    );
    assert_eq!(
        schema("EarnRequest", "phone")["maxLength"],
        loyalty_gateway::domain::PHONE_MAX_LEN
    );
    assert_eq!(
        doc["components"]["schemas"]["EarnRequest"]["additionalProperties"],
        false
    );
    // Every error of every operation is a problem document.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                }
                assert!(
                    response["headers"]["x-request-id"].is_object(),
                    "{method} {path} {status}"
                );
            }
        }
    }
}
