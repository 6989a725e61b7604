//! `serve` as an operator runs it: Ctrl-C in a terminal, a second `serve` on the same data
//! folder, a port already taken.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use loyalty_gateway::embedded::{free_port, RedisServer};
use wiremock::MockServer;

use crate::binary::{gateway, write_config};
use crate::helpers::*;

/// A `serve` child in a process group of its own, as a shell runs a foreground job.
pub struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl Serve {
    pub fn start(config: &Path, log: PathBuf) -> Self {
        let mut child = gateway(&["serve"], config)
            .env("RUST_LOG", "info")
            .env("LOYALTY__LOG__FORMAT", "pretty")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, log }
    }

    /// The address from the "listening on ADDR" line.
    pub fn address(&self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("serve never listened: {}", self.logs()));
            if let Some(addr) = line.strip_prefix("listening on ") {
                return format!("http://{}", addr.trim());
            }
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash or an OOM kill would: nothing is finished or flushed.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Ctrl-C in the terminal: SIGINT to every process of the foreground group.
    fn interrupt_group(&self) {
        // SAFETY: signalling the process group of our own child.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGINT) };
    }

    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        (status, self.logs())
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration whose Redis is embedded in `data` (nothing answers at `redis.url`).
fn embedded_config(dir: &Path, data: &Path, provider_url: &str, prefix: &str) -> PathBuf {
    let nobody = format!("redis://127.0.0.1:{}/0", free_port().unwrap());
    let toml = config_toml(&nobody, prefix, provider_url)
        .replace("[redis]\n", "[redis]\nembedded = true\n")
        .replace(
            &format!("key_prefix = \"{prefix}\""),
            &format!("key_prefix = \"{prefix}\"\ndata_dir = {data:?}"),
        );
    write_config(dir, &toml)
}

pub fn poll_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn ctrl_c_in_the_terminal_finishes_the_send_in_flight_and_records_it_before_redis_stops() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let twilio = runtime.block_on(MockServer::start());
    // Twilio takes a while to answer, so the send is in flight when Ctrl-C comes.
    runtime.block_on(
        twilio_send()
            .respond_with(twilio_created(ACCEPTED_SID).set_delay(Duration::from_millis(1500)))
            .mount(&twilio),
    );
    let prefix = unique_prefix();
    let config = embedded_config(dir.path(), &data, &twilio.uri(), &prefix);
    let serve = Serve::start(&config, dir.path().join("serve.log"));
    let address = serve.address();

    let earned = runtime.block_on(async {
        post_earn_to(&address, "+14155552671", 1250, "R-1")
            .await
            .status()
    });
    assert_eq!(earned, 200);
    poll_until("the consent request to reach Twilio", || {
        !runtime
            .block_on(twilio.received_requests())
            .unwrap_or_default()
            .is_empty()
    });
    serve.interrupt_group();
    let (status, logs) = serve.wait();
    assert!(status.success(), "serve exited with {status}: {logs}");
    let drained = logs.find("outbound workers stopped").expect(&logs);
    let redis_stopped = logs
        .find("stopping the embedded redis-server")
        .expect(&logs);
    assert!(drained < redis_stopped, "Redis must stop last: {logs}");

    // What the gateway recorded survives in the append-only file: the text is sent, and no
    // stream entry is left for a restarted gateway to send again.
    let redis = RedisServer::start(&data, true).unwrap();
    redis.wait_until_loaded().unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let base = format!("{prefix}:{{bloom}}:");
    let status: Option<String> = redis::cmd("HGET")
        .arg(format!("{base}msg:m1"))
        .arg("status")
        .query(&mut conn)
        .unwrap();
    assert_eq!(status.as_deref(), Some("sent"));
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(format!("{base}outbox"))
        .arg("senders")
        .query(&mut conn)
        .unwrap();
    let redis::Value::Array(summary) = pending else {
        panic!("XPENDING reply {pending:?}");
    };
    assert_eq!(
        summary.first(),
        Some(&redis::Value::Int(0)),
        "entries left pending"
    );
    assert_eq!(
        runtime.block_on(twilio.received_requests()).unwrap().len(),
        1,
        "sent once"
    );
}

#[test]
fn a_second_serve_on_the_same_data_folder_uses_the_running_redis() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let prefix = unique_prefix();
    let config = embedded_config(dir.path(), &data, "http://127.0.0.1:1", &prefix);
    let config_text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("provider = \"twilio\"", "provider = \"console\"");
    std::fs::write(&config, config_text).unwrap();
    let first = Serve::start(&config, dir.path().join("first.log"));
    let first_address = first.address();
    let second = Serve::start(&config, dir.path().join("second.log"));
    let second_address = second.address();
    // Lines reach the file in batches, up to `telemetry::writer::BATCH_WINDOW` after they are
    // logged.
    poll_until("the first serve's line about its redis-server", || {
        first.logs().contains("this gateway started a redis-server")
    });
    poll_until("the second serve's line about the running one", || {
        second.logs().contains("started by another serve")
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let earn = post_earn_to(&second_address, "+14155552671", 1250, "R-1").await;
        assert_eq!(earn.status(), 200);
        // The first gateway reads what the second wrote: one Redis, one set of files.
        let member: serde_json::Value = client
            .get(format!("{first_address}/v1/members/+14155552671"))
            .bearer_auth(POS_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(member["balance"], 12);
    });
    let redis_servers = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == "redis.port")
        .count();
    assert_eq!(redis_servers, 1);
    second.interrupt_group();
    assert!(second.wait().0.success());
    first.interrupt_group();
    assert!(first.wait().0.success());
}

#[test]
fn a_port_in_use_names_the_setting_that_moves_it() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let toml = config_toml(&redis_url(), &unique_prefix(), "http://127.0.0.1:1").replace(
        "bind = \"127.0.0.1:0\"",
        &format!("bind = \"127.0.0.1:{port}\""),
    );
    let config = write_config(dir.path(), &toml);
    let output = gateway(&["serve"], &config).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("LOYALTY__SERVER__BIND"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
