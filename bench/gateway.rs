//! The gateway's benchmark: `cargo bench --bench gateway`.
//!
//! Speed is measured, never asserted in tests. Every figure is printed next to a ceiling
//! measured in the same run on the same machine, so the ratios mean something anywhere:
//!
//! - earn throughput and latency, against `GET /healthz` (same HTTP stack, no Redis) and a
//!   no-op Lua script on the same Redis (the store's own ceiling);
//! - Redis round trips per earn, from the server's command statistics (should be 1.00);
//! - the send rate of two sender processes sharing one number, against the configured rate
//!   (must not exceed it: ratio <= 1.00, with the burst allowed on top).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use loyalty_gateway::configuration::{self, Settings};
use loyalty_gateway::embedded::RedisServer;
use loyalty_gateway::startup::Application;
use sha2::{Digest, Sha256};

const KEY: &str = "bench-pos-key";
const CONCURRENCY: usize = 32;
const PHASE: Duration = Duration::from_secs(5);

fn settings(redis_url: &str, prefix: &str, provider_url: &str, rate: f64) -> Settings {
    let sha = hex::encode(Sha256::digest(KEY.as_bytes()));
    configuration::parse_str(&format!(
        r#"
[server]
bind = "127.0.0.1:0"
public_url = "http://127.0.0.1"
[redis]
url = "{redis_url}"
key_prefix = "{prefix}"
[sms]
provider = "twilio"
messages_per_second = {rate}
burst = 1
max_in_flight = 16
[sms.twilio]
base_url = "{provider_url}"
account_sid = "AC00000000000000000000000000000000"
auth_token = "bench"
[log]
level = "warn"
[[programs]]
id = "bench"
name = "Bench Rewards"
numbers = ["+15005550006"]
[[programs.rewards]]
id = "r25"
points = 5000
auto_issue = true
[[programs.locations]]
id = "store-1"
[[api_keys]]
name = "pos"
sha256 = "{sha}"
program = "bench"
scopes = ["pos", "admin"]
"#
    ))
    .expect("bench configuration")
}

struct Stats {
    count: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

/// Runs `op(worker, iteration)` from CONCURRENCY tasks for PHASE.
async fn load<F, Fut>(op: F) -> Stats
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let start = Instant::now();
    let deadline = start + PHASE;
    let tasks = (0..CONCURRENCY).map(|worker| {
        let op = op.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut i = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                if !op(worker, i).await {
                    errors += 1;
                }
                latencies.push(t.elapsed());
                i += 1;
            }
            (latencies, errors)
        })
    });
    let mut stats = Stats {
        count: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in futures_util::future::join_all(tasks).await {
        let (latencies, errors) = task.expect("load task");
        stats.count += latencies.len();
        stats.errors += errors;
        stats.latencies.extend(latencies);
    }
    stats.elapsed = start.elapsed();
    stats
}

async fn command_calls(conn: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find(|l| l.starts_with(&format!("cmdstat_{command}:")))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A provider stand-in that records when each request arrived.
async fn recording_provider() -> (String, Arc<Mutex<Vec<Instant>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let data = web::Data::new(arrivals.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).default_service(web::to(
            |arrivals: web::Data<Arc<Mutex<Vec<Instant>>>>| async move {
                arrivals.lock().unwrap().push(Instant::now());
                HttpResponse::Created()
                    .json(serde_json::json!({ "sid": "SMbench", "status": "queued" }))
            },
        ))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), arrivals)
}

fn main() {
    // The Redis child is tied to the thread that starts it: the main thread.
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), false).expect("redis-server");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run(redis.url()));
    drop(redis);
}

async fn run(redis_url: String) {
    println!(
        "loyalty-gateway benchmark: {CONCURRENCY} concurrent clients, {} s per phase\n",
        PHASE.as_secs()
    );
    let (provider_url, arrivals) = recording_provider().await;

    // --- API: earn against its ceilings -------------------------------------------------------
    let app = Application::build(settings(&redis_url, "bench-api", &provider_url, 1000.0))
        .await
        .unwrap()
        .without_workers();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();

    let client = http.clone();
    let url = format!("{base}/healthz");
    let mut healthz = load(move |_, _| {
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;

    let redis_client = redis::Client::open(redis_url.as_str()).unwrap();
    let noop = redis::Script::new("return 1");
    let conn = redis::aio::ConnectionManager::new(redis_client.clone())
        .await
        .unwrap();
    let mut script_ceiling = load(move |_, _| {
        let mut conn = conn.clone();
        let noop = noop.clone();
        async move { noop.invoke_async::<_, i64>(&mut conn).await.is_ok() }
    })
    .await;

    let mut stats_conn = redis_client
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let evalsha_before = command_calls(&mut stats_conn, "evalsha").await
        + command_calls(&mut stats_conn, "eval").await;
    let client = http.clone();
    let url = format!("{base}/v1/earn");
    let mut earn = load(move |worker, i| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let phone = format!("+1415555{:04}", (worker * 131 + i) % 2000);
            let body = serde_json::json!({ "phone": phone, "amount": 1250 + i as i64,
                "location": "store-1", "receipt": format!("B-{worker}-{i}") });
            client
                .post(&url)
                .bearer_auth(KEY)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let evalsha_after = command_calls(&mut stats_conn, "evalsha").await
        + command_calls(&mut stats_conn, "eval").await;
    let scripts_per_earn = (evalsha_after - evalsha_before) as f64 / earn.count as f64;

    let client = http.clone();
    let url = format!("{base}/v1/earn");
    let mut replay = load(move |worker, _| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let body = serde_json::json!({ "phone": "+14155550100", "amount": 1250,
                "location": "store-1", "receipt": format!("replay-{}", worker % 4) });
            client
                .post(&url)
                .bearer_auth(KEY)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;

    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>8}",
        "phase", "req/s", "p50", "p99", "errors"
    );
    for (name, stats) in [
        ("GET /healthz (HTTP ceiling)", &mut healthz),
        ("no-op Lua script (Redis ceiling)", &mut script_ceiling),
        ("POST /v1/earn (new receipts)", &mut earn),
        ("POST /v1/earn (replayed receipts)", &mut replay),
    ] {
        println!(
            "{:<34} {:>10.0} {:>8.2}ms {:>8.2}ms {:>8}",
            name,
            stats.rps(),
            stats.percentile(0.5).as_secs_f64() * 1000.0,
            stats.percentile(0.99).as_secs_f64() * 1000.0,
            stats.errors
        );
    }
    println!();
    println!(
        "earn / HTTP ceiling        {:>6.2}",
        earn.rps() / healthz.rps()
    );
    println!(
        "earn / Redis ceiling       {:>6.2}",
        earn.rps() / script_ceiling.rps()
    );
    println!(
        "replay / earn              {:>6.2}",
        replay.rps() / earn.rps()
    );
    println!(
        "Redis scripts per earn     {:>6.2}  (one round trip each; should be 1.00)",
        scripts_per_earn
    );

    // --- Outbound: two senders sharing one number --------------------------------------------
    let rate = 20.0;
    let messages = 100;
    let first = Application::build(settings(&redis_url, "bench-send", &provider_url, rate))
        .await
        .unwrap()
        .without_workers();
    let second = Application::build(settings(&redis_url, "bench-send", &provider_url, rate))
        .await
        .unwrap()
        .without_workers();
    let state = first.state();
    let program = state.programs.iter().next().unwrap().clone();
    for i in 0..messages {
        let phone =
            loyalty_gateway::domain::PhoneNumber::parse_e164(&format!("+1415555{:04}", i)).unwrap();
        state
            .outbox
            .enqueue(
                &program,
                &phone,
                loyalty_gateway::store::scripts::outbox::MessageKind::ReplyAny,
                "help",
                &serde_json::json!({}),
                Duration::from_secs(3600),
            )
            .await
            .unwrap();
    }
    arrivals.lock().unwrap().clear();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let workers = [first.state(), second.state()].map(|state| {
        let workers = loyalty_gateway::startup::workers(&state).unwrap();
        tokio::spawn(workers.run(shutdown.clone()))
    });
    let started = Instant::now();
    while arrivals.lock().unwrap().len() < messages && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    for worker in workers {
        let _ = worker.await;
    }
    let times = arrivals.lock().unwrap().clone();
    let span = times.last().unwrap().duration_since(times[0]).as_secs_f64();
    let measured = (times.len() - 1) as f64 / span;
    let max_in_any_second = times
        .iter()
        .map(|t| {
            times
                .iter()
                .filter(|u| **u >= *t && u.duration_since(*t) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    println!();
    println!(
        "send rate, 2 processes, 1 number: {} texts of 1 segment",
        times.len()
    );
    println!(
        "configured                 {:>6.2} segments/s (burst 1)",
        rate
    );
    println!("measured                   {:>6.2} segments/s", measured);
    println!("most in any 1 s window     {:>6}", max_in_any_second);
    println!(
        "measured / configured      {:>6.2}  (must not exceed 1.00)",
        measured / rate
    );
}
