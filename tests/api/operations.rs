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
async fn the_openapi_document_covers_every_endpoint() {
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
    assert!(doc["components"]["schemas"]["EarnRequest"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    app.earn_ok("+14155552671", 1250, "R-1").await;
    app.drain_outbox().await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains("# TYPE loyalty_messages_sent_total counter"));
    assert!(text.contains("loyalty_messages_sent_total 1"), "{text}");
    assert!(text.contains("loyalty_earns_total 1"), "{text}");
    app.earn_ok("+14155552671", 1250, "R-1").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("loyalty_earn_replays_total 1"), "{text}");
}
