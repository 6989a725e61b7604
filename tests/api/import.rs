//! `loyalty-gateway import` and `export`, through the real binary on the test's Redis.

use serde_json::Value;

use crate::binary::{gateway, write_config};
use crate::helpers::*;

/// Runs the binary with `args` on `app`'s Redis: (success, stdout, stderr).
fn run(app: &TestApp, dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let path = write_config(
        dir,
        &config_toml(&app.redis_url, &app.prefix, "http://127.0.0.1:1"),
    );
    let output = gateway(args, &path).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every key and its content, to tell whether anything changed.
async fn snapshot(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = app.redis().await;
    let mut keys = app.keys().await;
    keys.sort();
    let mut all = Vec::new();
    for key in keys {
        let dump: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        all.push((key, format!("{dump:?}")));
    }
    all
}

const FILE: &str = "\
Mobile,Name,Lang,Opt In,Points
(415) 555-0101,Ana,es,yes,1200
415.555.0102,Bo,,,
+44 7911 123456,Cy,en,Y,0
555-0199,Bad,en,yes,10
415-555-0104,Dee,fr,yes,10
4155550102,Twice,en,yes,5
415-555-0105,Eve,en,yes,12.5
+1 500 555 0006,Own,en,yes,0
";

#[tokio::test]
async fn import_maps_columns_rejects_bad_rows_by_line_and_a_second_run_changes_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("customers.csv");
    std::fs::write(&csv, FILE).unwrap();
    let csv = csv.to_str().unwrap();
    let mapped = [
        "--phone-column",
        "mobile",
        "--name-column",
        "Name",
        "--locale-column",
        "Lang",
        "--consent-column",
        "Opt In",
        "--balance-column",
        "Points",
    ];
    let with = |extra: &[&'static str]| {
        let mut args = vec!["import", "--program", "bloom"];
        args.extend_from_slice(&mapped);
        args.extend_from_slice(extra);
        args.push(csv);
        args
    };

    // A dry run checks and counts, and writes nothing.
    let before = snapshot(&app).await;
    let (ok, out, err) = run(&app, dir.path(), &with(&["--dry-run"]));
    assert!(ok, "{err}");
    assert!(out.contains("would import 3 (2 active, 1 pending"), "{out}");
    assert!(out.contains("dry run: nothing was written"), "{out}");
    assert_eq!(snapshot(&app).await, before);

    let (ok, out, err) = run(&app, dir.path(), &with(&[]));
    assert!(ok, "{err}");
    assert!(out.starts_with("8 rows"), "{out}");
    assert!(
        out.contains("imported 3 (2 active, 1 pending, 0 suppressed"),
        "{out}"
    );
    assert!(
        out.contains("0 already members") && out.contains("5 rejected"),
        "{out}"
    );
    for (line, reason) in [
        (5, "phone: \"555-0199\""),
        (6, "locale: \"fr\""),
        (7, "phone: the same number as line 3"),
        (8, "balance: \"12.5\""),
        (9, "own numbers"),
    ] {
        let text = out
            .lines()
            .find(|l| l.starts_with(&format!("line {line}: ")))
            .unwrap_or_else(|| panic!("line {line} not reported: {out}"));
        assert!(text.contains(reason), "{text}");
    }
    let ana = app.member_json("+14155550101").await;
    assert_eq!(
        (&ana["status"], &ana["first_name"], &ana["balance"]),
        (
            &Value::from("active"),
            &Value::from("Ana"),
            &Value::from(1200)
        )
    );
    assert_eq!(app.history("+14155550101").await[0]["type"], "import");
    let consent: Value = app
        .get("/v1/members/%2B14155550101/consent", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(consent["records"][0]["channel"], "import");
    assert_eq!(consent["records"][0]["line"], 2);
    assert_eq!(app.member_json("+14155550102").await["status"], "pending");
    assert_eq!(app.member_json("+447911123456").await["status"], "active");
    // Without --request-consent, nobody is texted.
    assert_eq!(app.drain_outbox().await, 0);

    // The same file again: nothing changes.
    let after = snapshot(&app).await;
    let (ok, out, err) = run(&app, dir.path(), &with(&[]));
    assert!(ok, "{err}");
    assert!(
        out.contains("imported 0 (") && out.contains("3 already members"),
        "{out}"
    );
    assert_eq!(snapshot(&app).await, after);
}

#[tokio::test]
async fn request_consent_texts_each_new_pending_member_once_and_a_file_of_bad_rows_fails() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("pending.csv");
    std::fs::write(&csv, "phone,first_name\n4155550111,Al\n4155550112,\n").unwrap();
    let csv = csv.to_str().unwrap().to_owned();
    let (ok, _, err) = run(
        &app,
        dir.path(),
        &["import", "--program", "bloom", "--request-consent", &csv],
    );
    assert!(ok, "{err}");
    app.drain_outbox().await;
    for phone in ["+14155550111", "+14155550112"] {
        let texts = app.texts_to(phone).await;
        assert_eq!(texts.len(), 1, "{texts:?}");
        assert!(texts[0].contains("Reply YES"), "{texts:?}");
    }

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "phone\nnot a number\n123\n").unwrap();
    let (ok, out, err) = run(
        &app,
        dir.path(),
        &["import", "--program", "bloom", bad.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(err.contains("every row was rejected"), "{err}");
    assert!(
        out.contains("line 2: phone") && out.contains("line 3: phone"),
        "{out}"
    );
    let (ok, _, err) = run(
        &app,
        dir.path(),
        &[
            "import",
            "--program",
            "bloom",
            "--balance-column",
            "pts",
            &csv,
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("no \"pts\" column") && err.contains("--balance-column"),
        "{err}"
    );
}

#[tokio::test]
async fn export_writes_every_member_as_csv_and_their_history_as_json_lines() {
    let app = spawn_app().await;
    twilio_accepts_everything(&app).await;
    app.text("+14155550121", "JOIN").await;
    app.earn_ok("+14155550121", 2500, "R-1").await;
    app.earn_ok("+14155550122", 1000, "R-2").await;
    let dir = tempfile::tempdir().unwrap();
    let members = dir.path().join("members.csv");
    let (ok, _, err) = run(
        &app,
        dir.path(),
        // As CONTRACT.md writes it: the output after the subcommand.
        &[
            "export",
            "--program",
            "bloom",
            "members",
            "--output",
            members.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(err.contains("members exported: 2"), "{err}");
    let mut reader = csv::Reader::from_path(&members).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "phone",
            "first_name",
            "status",
            "balance",
            "lifetime_points",
            "tier",
            "visits",
            "locale",
            "joined_at",
            "last_visit_at"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (&rows[0][0], &rows[0][2], &rows[0][3]),
        ("+14155550121", "active", "75")
    );
    assert_eq!(
        (&rows[1][0], &rows[1][2], &rows[1][3]),
        ("+14155550122", "pending", "10")
    );

    let (ok, out, err) = run(
        &app,
        dir.path(),
        &["export", "--program", "bloom", "history"],
    );
    assert!(ok, "{err}");
    let entries: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["phone"].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("+14155550121", "welcome"),
            ("+14155550121", "earn"),
            ("+14155550122", "earn")
        ]
    );
}
