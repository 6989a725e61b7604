//! The real binary, end to end: `check`, `keys new`, and `serve` answering an earn over HTTP,
//! texting through the console provider, and stopping cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::*;
use crate::shutdown::{poll_until, Serve};

pub const BIN: &str = env!("CARGO_BIN_EXE_loyalty-gateway");
const DEFAULT_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml");

/// `loyalty-gateway <subcommand...> --config <config>`.
pub fn gateway(subcommand: &[&str], config: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(BIN);
    command.args(subcommand).arg("--config").arg(config);
    command
}

pub fn write_config(dir: &std::path::Path, toml: &str) -> std::path::PathBuf {
    let path = dir.join("gateway.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

#[test]
fn check_accepts_the_shipped_default_and_reports_segments() {
    let output = gateway(&["check"], DEFAULT_CONFIG)
        .env_remove("LOYALTY_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("en/earn"));
    assert!(stdout.contains("GSM-7"));
    assert!(stdout.contains("ar/help") && stdout.contains("UCS-2"));
}

#[test]
fn check_rejects_a_broken_configuration_with_a_readable_message() {
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml("redis://127.0.0.1:1/0", "p", "http://127.0.0.1:1")
        .replace("points = 5000", "points = 0");
    let path = write_config(dir.path(), &toml);
    let output = gateway(&["check"], &path).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("programs[0].rewards[1].points"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn check_fails_when_a_template_exceeds_max_segments() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates/en");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(templates.join("help.txt"), "{{ program }} ".repeat(60)).unwrap();
    let toml = config_toml("redis://127.0.0.1:1/0", "p", "http://127.0.0.1:1").replace(
        "[sms]",
        &format!(
            "[templates]\ndir = {:?}\n\n[sms]",
            dir.path().join("templates")
        ),
    );
    let path = write_config(dir.path(), &toml);
    let output = gateway(&["check"], &path).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("en/help"), "{stderr}");
    assert!(stderr.contains("sms.max_segments"), "{stderr}");
}

#[test]
fn check_refuses_a_typo_and_suggests_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml("redis://127.0.0.1:1/0", "p", "http://127.0.0.1:1")
        .replace("welcome_points = 50", "welcome_point = 50");
    let path = write_config(dir.path(), &toml);
    let output = gateway(&["check"], &path).output().unwrap();
    assert!(!output.status.success(), "check must refuse a typo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "programs[0].welcome_point: unknown key; did you mean programs[0].welcome_points?"
        ),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing is said to be ok");
}

#[test]
fn check_piped_into_a_reader_that_stops_early_ends_quietly() {
    let mut child = gateway(&["check"], DEFAULT_CONFIG)
        .env_remove("LOYALTY_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `check | head -0`: the reader is gone before `check` has written a line (it is still
    // loading its configuration), so every write meets a closed pipe.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "a panic's exit code");
}

#[test]
fn keys_webhook_secret_prints_a_fresh_secret_the_configuration_accepts() {
    let secret = || {
        let output = Command::new(BIN)
            .args(["keys", "webhook-secret"])
            .output()
            .unwrap();
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        let entry = &text[text.find("[[webhooks]]").unwrap()..];
        let settings = loyalty_gateway::configuration::parse_str(&format!(
            "{}\n{entry}",
            config_toml("redis://127.0.0.1:6379/0", "p", "http://127.0.0.1:9")
        ))
        .unwrap();
        assert_eq!(settings.webhooks.len(), 1);
        text.lines().next().unwrap().to_owned()
    };
    let (a, b) = (secret(), secret());
    assert!(a.starts_with("whsec_") && a != b, "{a} {b}");
}

#[test]
fn keys_new_prints_a_key_whose_hash_is_in_the_entry() {
    let new_key = |args: &[&str]| {
        let mut subcommand = vec!["keys", "new"];
        subcommand.extend_from_slice(args);
        gateway(&subcommand, DEFAULT_CONFIG).output().unwrap()
    };
    let output = new_key(&[
        "--program",
        "bloom",
        "--scope",
        "pos",
        "--location",
        "store-12",
    ]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let key = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("lg_"))
        .map(|k| format!("lg_{k}"))
        .unwrap();
    use sha2::{Digest, Sha256};
    let sha = hex::encode(Sha256::digest(key.as_bytes()));
    assert!(stdout.contains(&format!("sha256 = \"{sha}\"")), "{stdout}");
    assert!(stdout.contains("locations = [\"store-12\"]"));
    let unknown = new_key(&["--program", "nope", "--scope", "pos"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--program \"nope\""));
}

#[test]
fn serve_answers_an_earn_texts_through_the_console_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix();
    let toml = config_toml(&redis_url(), &prefix, "http://127.0.0.1:1")
        .replace("provider = \"twilio\"", "provider = \"console\"");
    let path = write_config(dir.path(), &toml);
    let log_path = dir.path().join("serve.log");
    let mut child = gateway(&["serve"], &path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| -> String {
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no line containing {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    };
    let listening = wait_for("listening on ");
    let addr = listening.trim().rsplit(' ').next().unwrap().to_owned();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let body: serde_json::Value = runtime.block_on(async {
        post_earn_to(&format!("http://{addr}"), "415 555 2671", 2500, "E2E-1")
            .await
            .json()
            .await
            .unwrap()
    });
    assert_eq!(body["points"], 25);
    assert_eq!(body["phone"], "+14155552671");
    let member = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{addr}/v1/members/+14155552671"))
            .bearer_auth(POS_KEY)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(member, 200);
    let sms = wait_for("SMS ");
    assert!(sms.contains("-> +14155552671"), "{sms}");
    assert!(sms.contains("Reply YES"), "{sms}");

    // The customer answers by text, through `loyalty-gateway text` (a signed Twilio webhook).
    let text = |body: &[&str]| {
        let output = gateway(&["text"], &path)
            .args([
                "--from",
                "(415) 555-2671",
                "--url",
                &format!("http://{addr}"),
            ])
            .args(body)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    text(&["YES"]);
    let welcome = wait_for("SMS ");
    assert!(welcome.contains("Welcome! You earned 50 pts"), "{welcome}");
    text(&["saldo"]);
    let balance = wait_for("SMS ");
    assert!(balance.contains("You have 75 pts"), "{balance}");
    text(&["STOP"]);
    let confirmation = wait_for("SMS ");
    assert!(confirmation.contains("unsubscribed"), "{confirmation}");

    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");

    // The logs tell the story without ever naming the customer's number.
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("listening on"), "{logs}");
    for line in logs.lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok_and(|l| l.is_object()),
            "not a JSON object: {line}"
        );
    }
    assert!(
        logs.contains("\"request_id\""),
        "requests are logged with their id: {logs}"
    );
    assert!(
        logs.contains("+1********71"),
        "masked numbers are logged: {logs}"
    );
    for raw in ["4155552671", "555-2671", "555 2671"] {
        assert!(!logs.contains(raw), "the log names {raw}: {logs}");
    }
}

#[test]
fn text_refuses_a_number_that_is_not_one() {
    let output = gateway(&["text"], DEFAULT_CONFIG)
        .args(["--from", "12", "JOIN"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--from"));
}

/// The threads of process `pid` that actix-server runs HTTP workers on ("actix-server worker
/// N", cut to 15 bytes by the kernel).
fn http_worker_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.starts_with("actix-server wo"))
        .count()
}

#[test]
fn serve_runs_as_many_http_workers_as_configured_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(&redis_url(), &unique_prefix(), "http://127.0.0.1:1")
        .replace("[server]\n", "[server]\nworkers = 3\n");
    let serve = Serve::start(
        &write_config(dir.path(), &toml),
        dir.path().join("serve.log"),
    );
    let address = serve.address();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let health = runtime.block_on(async {
        reqwest::get(format!("{address}/healthz"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(health, 200);
    poll_until("three HTTP workers", || {
        http_worker_threads(serve.id()) >= 3
    });
    assert_eq!(http_worker_threads(serve.id()), 3);
    assert!(serve.logs().contains("http_workers=3"), "{}", serve.logs());
}

#[test]
fn serve_without_redis_or_redis_server_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = format!(
        "redis://127.0.0.1:{}/0",
        loyalty_gateway::embedded::free_port().unwrap()
    );
    let toml = config_toml(&nobody, "p", "http://127.0.0.1:1")
        .replace("[redis]\n", "[redis]\nembedded = true\n")
        .replace(
            "key_prefix = \"p\"",
            &format!(
                "key_prefix = \"p\"\ndata_dir = {:?}",
                dir.path().join("data")
            ),
        );
    let path = write_config(dir.path(), &toml);
    let output = gateway(&["serve"], &path)
        .env("PATH", dir.path()) // no redis-server here
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("redis-server is not installed"), "{stderr}");
    assert!(stderr.contains("apt-get install redis-server"), "{stderr}");
    assert!(stderr.contains("LOYALTY__REDIS__URL"), "{stderr}");
}

#[tokio::test]
async fn campaigns_lists_shows_previews_and_sends_what_the_api_sees() {
    let app = spawn_app().await;
    app.text("+14155550001", "JOIN").await;
    let created = app
        .post(
            "/v1/campaigns",
            MARKETING_KEY,
            &serde_json::json!({ "name": "From the shell", "body": "Hi {{ first_name }}" }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &config_toml(&app.redis_url, &app.prefix, "http://127.0.0.1:1"),
    );
    let run = |args: &[&str]| {
        let mut all = vec!["campaigns"];
        all.extend_from_slice(args);
        let output = gateway(&all, &path).output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["--program", "bloom", "list"]);
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with("c1 ")).expect(&out);
    assert!(
        line.contains("draft") && line.ends_with("From the shell"),
        "{line}"
    );

    let (ok, out, err) = run(&["--program", "bloom", "preview", "c1"]);
    assert!(ok, "{err}");
    let preview: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(preview["recipients"], 1);

    let (ok, out, err) = run(&["--program", "bloom", "send", "c1"]);
    assert!(ok, "{err}");
    assert!(out.contains("c1 is sending"), "{out}");
    let shown = app.get("/v1/campaigns/c1", MARKETING_KEY).await;
    assert_eq!(
        shown.json::<serde_json::Value>().await.unwrap()["status"],
        "sending"
    );

    let (ok, out, err) = run(&["--program", "bloom", "show", "c1"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["status"],
        "sending"
    );

    let (ok, _, err) = run(&["list"]);
    assert!(!ok);
    assert!(err.contains("--program (bloom, other, bakery)"), "{err}");
    let (ok, _, err) = run(&["--program", "bloom", "show", "c9"]);
    assert!(!ok);
    assert!(err.contains("no campaign \"c9\" in bloom"), "{err}");
}

#[test]
fn campaigns_without_a_redis_says_what_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = format!(
        "redis://127.0.0.1:{}/0",
        loyalty_gateway::embedded::free_port().unwrap()
    );
    let path = write_config(dir.path(), &config_toml(&nobody, "p", "http://127.0.0.1:1"));
    let output = gateway(&["campaigns", "--program", "bloom", "list"], &path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no Redis answers at redis://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("loyalty-gateway serve"), "{stderr}");
}

#[test]
fn keys_dashboard_user_hashes_a_password_from_stdin_into_an_entry_the_configuration_accepts() {
    use std::io::Write;
    let run = |password: &str| {
        let mut child = Command::new(BIN)
            .args([
                "keys",
                "dashboard-user",
                "--name",
                "owner",
                "--program",
                "bloom",
                "--scope",
                "admin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let output = run("correct horse battery staple\n");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        !text.contains("correct horse"),
        "the password is not printed"
    );
    let entry = &text[text.find("[[dashboard_users]]").unwrap()..];
    let settings = loyalty_gateway::configuration::parse_str(&format!(
        "{}\n{entry}",
        config_toml("redis://127.0.0.1:6379/0", "p", "http://127.0.0.1:9")
    ))
    .unwrap();
    let user = &settings.dashboard_users[0];
    assert_eq!(
        (user.name.as_str(), user.program.as_str()),
        ("owner", "bloom")
    );
    assert!(user
        .password_hash
        .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(loyalty_gateway::auth::verify_password(
        &user.password_hash,
        "correct horse battery staple"
    ));
    assert!(!loyalty_gateway::auth::verify_password(
        &user.password_hash,
        "correct horse battery stapler"
    ));

    let short = run("hunter2\n");
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    assert!(short.stdout.is_empty());
}
