//! The gateway's benchmark: `cargo bench --bench gateway`.
//!
//! Speed is measured, never asserted in tests. Every figure is printed next to a ceiling
//! measured in the same run on the same machine, so the ratios mean something anywhere:
//!
//! - earn throughput and latency, against `GET /healthz` (same HTTP stack, no Redis) and a
//!   no-op Lua script on the same Redis (the store's own ceiling);
//! - Redis round trips per earn, from the server's command statistics (should be 1.00), and the
//!   time Redis's thread spends in one earn script against a no-op script;
//! - the send rate of two sender processes sharing one number, against the configured rate
//!   (must not exceed it: ratio <= 1.00, with the burst allowed on top);
//! - earn on a local Redis Cluster (three masters with a replica each) with three programs
//!   whose slots are on three masters, against one node in the same run; one program alone on
//!   the cluster (the ceiling of one program: its keys share one slot, so one master); and the
//!   cost of `min_replicas_acked = 1` (every acknowledged earn waits for a replica);
//! - campaigns on a 100,000-member program: the preview (every member's text rendered) and the
//!   whole fan-out (audience fixed, holdout drawn, every text queued), against the targets of
//!   2 s and 5 s; and earn for members a campaign touched (attribution counted) against earn
//!   for members it did not, in the same program in the same run;
//! - import of 100,000 rows against the target of 20,000 rows/s;
//! - Redis bytes per member (2,000 members joined by text, five purchases each, every text
//!   delivered), by kind of key, against the targets;
//! - the release binary in its own process: earn at the default log level against warn, and
//!   the CPU time an earn costs the gateway against what it costs redis-server (from /proc),
//!   and the gateway's CPU per earn at info against warn.
//!
//! - the instructions redis-server executes per earn script call, counted by callgrind (when
//!   valgrind is installed): the one Redis figure this machine's drifting speed cannot move.
//!
//! The load generator is a lean HTTP/1.1 client of its own ([`LoadClient`]) on a thread of its
//! own; a timed phase starts once each of its 32 connections has made one call. The bench's
//! Redis runs its main thread on a CPU of its own ([`RedisAffinity`]; `-- unpinned` leaves it to
//! the kernel).
//!
//! Phases alone: `-- earn`, `-- campaigns`, `-- import`, `-- memory`, `-- process`,
//! `-- instructions` (with `BENCH_CALLGRIND_DIR=<dir>`, its callgrind dumps are kept there).
//! Every figure and its ceiling or target also go to `target/bench/gateway.json`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use loyalty_gateway::configuration::{self, Settings};
use loyalty_gateway::embedded::cluster::LocalCluster;
use loyalty_gateway::embedded::RedisServer;
use loyalty_gateway::startup::Application;
use sha2::{Digest, Sha256};

/// The programs, one key each: on a three-master cluster their hash tags land on the three
/// masters. The first one is the single-program phases'.
const PROGRAMS: [(&str, &str); 3] = [
    ("bakery", "bench-key-bakery"),
    ("bloom", "bench-key-bloom"),
    ("other", "bench-key-other"),
];
const KEY: &str = PROGRAMS[0].1;
/// The binary's allocator (src/main.rs), so that the gateway run in this process allocates as
/// the deployed one does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
const CONCURRENCY: usize = 32;
/// `sms.max_in_flight` of the bench's senders: the local provider answers in well under a
/// millisecond, so 16 (the default, sized for a provider's concurrency limit) leaves the
/// senders waiting on round trips rather than working.
const MAX_IN_FLIGHT: usize = 64;
const PHASE: Duration = Duration::from_secs(5);

/// Where every load phase runs its clients: a runtime of one thread of its own. The load
/// generator shares the two cores with the gateway and Redis, and on two threads it took as
/// much of them as the gateway did (as `wrk -t1` would, one thread drives all 32 connections).
/// The rest of the bench (the gateway's own tasks, the local provider) stays on the main
/// runtime.
static LOAD_GENERATOR: std::sync::LazyLock<tokio::runtime::Runtime> =
    std::sync::LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("load-generator")
            .enable_all()
            .build()
            .expect("the load generator's runtime")
    });
/// The load generator's HTTP/1.1 client, made as wrk's is: a keep-alive connection per load
/// task (`worker`), each request written whole in one write and its response read into a
/// buffer the connection keeps. reqwest (hyper's pooled client) took as much CPU per request as
/// a third of the gateway's worker, on the two cores the gateway and Redis also run on; a tail
/// latency measured that way is partly the load generator's.
#[derive(Clone)]
struct LoadClient {
    addr: std::net::SocketAddr,
    connections: Arc<Vec<tokio::sync::Mutex<Option<LoadConnection>>>>,
}

struct LoadConnection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl LoadClient {
    /// A client of `base` (`http://<ip>:<port>`), with a connection for each of CONCURRENCY
    /// tasks, made on its first request.
    fn new(base: &str) -> Self {
        let addr = base
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{base} is http://<ip>:<port>"));
        Self {
            addr,
            connections: Arc::new((0..CONCURRENCY).map(|_| Default::default()).collect()),
        }
    }

    /// `GET path`: true on a 2xx answer.
    async fn get(&self, worker: usize, path: &str) -> bool {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        self.round_trip(worker, request.as_bytes()).await
    }

    /// `POST path` with `headers` and `body`: true on a 2xx answer.
    async fn post(&self, worker: usize, path: &str, headers: &[(&str, &str)], body: &[u8]) -> bool {
        let mut request = format!("POST {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut request = request.into_bytes();
        request.extend_from_slice(body);
        self.round_trip(worker, &request).await
    }

    /// Sends `request` on `worker`'s connection and reads the answer. A connection the server
    /// closed while it was idle (between phases, after its keep-alive time) is made anew and the
    /// request sent again, once.
    async fn round_trip(&self, worker: usize, request: &[u8]) -> bool {
        let mut slot = self.connections[worker].lock().await;
        for _ in 0..2 {
            let reused = slot.is_some();
            if !reused {
                let Ok(stream) = tokio::net::TcpStream::connect(self.addr).await else {
                    return false;
                };
                let _ = stream.set_nodelay(true);
                *slot = Some(LoadConnection {
                    stream,
                    buffer: Vec::with_capacity(4096),
                });
            }
            let connection = slot.as_mut().expect("connected");
            match connection.round_trip(request).await {
                Ok(status) => return (200..300).contains(&status),
                Err(_) => {
                    *slot = None;
                    if !reused {
                        return false;
                    }
                }
            }
        }
        false
    }
}

impl LoadConnection {
    /// Writes `request`, then reads one response (its head, then `Content-Length` bytes of
    /// body) and answers its status.
    async fn round_trip(&mut self, request: &[u8]) -> std::io::Result<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        self.stream.write_all(request).await?;
        self.buffer.clear();
        let (status, length) = loop {
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(head) = response
                .parse(&self.buffer)
                .map_err(|_| invalid("a response that is not HTTP/1.1"))?
            else {
                continue;
            };
            let length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                .ok_or_else(|| invalid("a response without Content-Length"))?;
            break (response.code.unwrap_or(0), head + length);
        };
        while self.buffer.len() < length {
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(status)
    }
}

/// Every figure of the run with what it is measured against, also written as JSON to
/// `target/bench/gateway.json` (a ceiling measured in the same run, or a target).
static REPORT: Mutex<Vec<serde_json::Value>> = Mutex::new(Vec::new());
/// How the run was set up, next to its figures.
static REPORT_SETTINGS: Mutex<Vec<(&str, serde_json::Value)>> = Mutex::new(Vec::new());

/// Where the bench's redis-server runs its threads: the main thread on a CPU of its own, its
/// background threads (fsync of the append-only file, lazy frees) and its rewrite child on the
/// others, by Redis's own `server_cpulist`, `bio_cpulist`, `aof_rewrite_cpulist` and
/// `bgsave_cpulist`. Redis runs every command on its one main thread; left to the kernel, that
/// thread shares two cores with the gateway, the load generator and its own rewrite child, and
/// is moved between the cores. In eight `-- earn` runs in one half hour on one machine, an
/// earn script took 48, 55, 76 and 51 us of Redis's time pinned, 78, 82, 60 and 55 us not; p99
/// at 32 connections was 4.93, 4.68, 5.26 and 4.65 ms pinned, 6.02, 5.56, 5.16 and 4.97 ms
/// not. A deployment that shares a host does the same in redis.conf; `-- unpinned` measures
/// the other way.
struct RedisAffinity {
    server: usize,
    others: String,
}

impl RedisAffinity {
    /// The first CPU this process may run on for Redis's main thread, the rest for the others;
    /// None with fewer than two.
    fn of_this_machine() -> Option<Self> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set, filled in by sched_getaffinity for
        // this process; CPU_ISSET only reads it.
        let cpus: Vec<usize> = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return None;
            }
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect()
        };
        let (&server, rest) = cpus.split_first()?;
        (!rest.is_empty()).then(|| Self {
            server,
            others: rest
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
        })
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec!["--server_cpulist".to_owned(), self.server.to_string()];
        for setting in ["--bio_cpulist", "--aof_rewrite_cpulist", "--bgsave_cpulist"] {
            args.push(setting.to_owned());
            args.push(self.others.clone());
        }
        args
    }
}

/// Records `value` (in `unit`) of `figure`, next to `against`: a ceiling measured in the same
/// run or a target, and the ratio of the two.
fn record(figure: &str, value: f64, unit: &str, against: Option<(&str, f64)>) {
    let mut entry = serde_json::json!({ "figure": figure, "value": value, "unit": unit });
    if let Some((name, reference)) = against {
        entry["against"] = serde_json::json!({ "name": name, "value": reference });
        entry["ratio"] = serde_json::json!(value / reference);
    }
    REPORT.lock().unwrap().push(entry);
}

fn write_report() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.json");
    let report = serde_json::json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "settings": REPORT_SETTINGS.lock().unwrap().iter().cloned()
            .map(|(name, value)| (name.to_owned(), value))
            .collect::<serde_json::Map<_, _>>(),
        "figures": *REPORT.lock().unwrap(),
    });
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("\nfigures written to {}", path.display());
}

/// Earns whose Redis commands are counted (a multiple of CONCURRENCY).
const COUNTED_EARNS: usize = 8_000;

fn settings(redis_url: &str, prefix: &str, provider_url: &str, rate: f64) -> Settings {
    configuration::parse_str(&settings_toml(
        redis_url,
        prefix,
        provider_url,
        rate,
        "warn",
    ))
    .expect("bench configuration")
}

/// The bench's configuration, logging at `log_level`.
fn settings_toml(
    redis_url: &str,
    prefix: &str,
    provider_url: &str,
    rate: f64,
    log_level: &str,
) -> String {
    let programs: String = PROGRAMS
        .iter()
        .enumerate()
        .map(|(i, (id, key))| {
            let sha = hex::encode(Sha256::digest(key.as_bytes()));
            format!(
                r#"
[[programs]]
id = "{id}"
name = "Bench {id}"
numbers = ["+1500555000{i}"]
[[programs.rewards]]
id = "r25"
points = 5000
auto_issue = true
[[programs.locations]]
id = "store-1"
[[api_keys]]
name = "pos-{id}"
sha256 = "{sha}"
program = "{id}"
scopes = ["pos", "admin"]
"#
            )
        })
        .collect();
    format!(
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
max_in_flight = {MAX_IN_FLIGHT}
[sms.twilio]
base_url = "{provider_url}"
account_sid = "AC00000000000000000000000000000000"
auth_token = "bench"
[log]
level = "{log_level}"
format = "json"
{programs}"#
    )
}

/// Member `index` (taken modulo 2,000) of block `block`: `+1415555xxxx` for 5.
fn block_member(block: u8, index: u64) -> String {
    format!("+141555{block}{:04}", index % 2000)
}

/// The member of block `block` that worker `worker`'s `i`th call uses: the workers walk the
/// block at different offsets, so that concurrent calls seldom share a member.
fn member_phone(block: u8, worker: usize, i: usize) -> String {
    block_member(block, (worker * 131 + i) as u64)
}

/// One of the 2,000 members of block `block`, as [`member_phone`], but drawn in no order: a
/// hash of the worker and the call picks it, the same in every run. For the phases that time
/// earns. Drawn in turn, every member of a block makes its nth visit within the same few
/// milliseconds, and the visits that cost Redis more than most (the first, which makes the
/// member; about every 36th, which moves the history out of the member hash and cost as much
/// as 3.5 earns before session 12, 2.5 since) came to all 2,000 members at once. In one
/// `-- earn` run 1,992 history moves fell within one second, and the open-loop phase's p99 was
/// 19-48 ms with that burst in it; no shop's members visit in turn.
fn scattered_member_phone(block: u8, worker: usize, i: usize) -> String {
    // SplitMix64's finaliser: every bit of (worker, i) stirs every bit of the index.
    let mut x = ((worker as u64) << 32 | i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    block_member(block, x)
}

/// One earn at store-1 over HTTP with API key `key`, on `worker`'s connection: true when it
/// was credited (or replayed).
async fn post_earn(
    client: &LoadClient,
    worker: usize,
    key: &str,
    phone: &str,
    amount: i64,
    receipt: &str,
) -> bool {
    let body = serde_json::json!({ "phone": phone, "amount": amount,
        "location": "store-1", "receipt": receipt });
    let authorization = format!("Bearer {key}");
    client
        .post(
            worker,
            "/v1/earn",
            &[
                ("Authorization", &authorization),
                ("Content-Type", "application/json"),
            ],
            &serde_json::to_vec(&body).unwrap(),
        )
        .await
}

/// Earns of new receipts from CONCURRENCY clients, spread over `keys` (programs).
async fn earn_phase(base: &str, keys: &'static [(&str, &str)]) -> Stats {
    let client = LoadClient::new(base);
    let run = rand::random::<u32>();
    load(move |worker, i| {
        let client = client.clone();
        async move {
            let key = keys[(worker + i) % keys.len()].1;
            let phone = scattered_member_phone(5, worker, i);
            post_earn(
                &client,
                worker,
                key,
                &phone,
                1250 + i as i64,
                &format!("C-{run}-{worker}-{i}"),
            )
            .await
        }
    })
    .await
}

/// Earns of new receipts at a fixed `rate` for `phase`, from CONCURRENCY clients each on its own
/// schedule (open loop), by members who have been before (block 5, made by the saturated
/// phase), drawn as [`scattered_member_phone`] draws them. Answers the latencies and the load
/// generator's own timer slack.
///
/// A request that finds its connection still waiting for the one before counts from when it
/// was due, so a stall shows in every request it held up. One that finds it free counts from
/// when it was sent: tokio's timers fire on the millisecond after their deadline, and counted
/// from its deadline every request carried that slack (about a millisecond, half the median).
async fn earn_at_rate(
    base: &str,
    key: &'static str,
    rate: f64,
    phase: Duration,
) -> (Stats, Vec<Duration>) {
    let client = LoadClient::new(base);
    let run = rand::random::<u32>();
    let interval = Duration::from_secs_f64(CONCURRENCY as f64 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let end = start + phase;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|worker| {
            let client = client.clone();
            LOAD_GENERATOR.spawn(async move {
                let (mut latencies, mut calm, mut slack) = (Vec::new(), Vec::new(), Vec::new());
                let mut errors = 0;
                // The connection, opened before the schedule starts.
                client.get(worker, "/healthz").await;
                let offset = interval.mul_f64(worker as f64 / CONCURRENCY as f64);
                let mut previous_answered = start;
                for i in 0.. {
                    let due = start + offset + interval * i;
                    if due >= end {
                        break;
                    }
                    tokio::time::sleep_until(due).await;
                    let sent = tokio::time::Instant::now();
                    let from = if previous_answered > due {
                        due
                    } else {
                        slack.push(sent - due);
                        sent
                    };
                    let phone = scattered_member_phone(5, worker, i as usize);
                    let receipt = format!("S-{run}-{worker}-{i}");
                    let child = REDIS_CHILD.load(std::sync::atomic::Ordering::Relaxed);
                    let credited = post_earn(&client, worker, key, &phone, 1250, &receipt).await;
                    previous_answered = tokio::time::Instant::now();
                    if credited {
                        let latency = previous_answered - from;
                        latencies.push(latency);
                        if calm_since(child) {
                            calm.push(latency);
                        }
                    } else {
                        errors += 1;
                    }
                }
                (latencies, calm, slack, errors)
            })
        })
        .collect();
    let mut stats = Stats {
        count: 0,
        errors: 0,
        elapsed: phase,
        latencies: Vec::new(),
        calm: Vec::new(),
    };
    let mut all_slack = Vec::new();
    for worker in workers {
        let (latencies, calm, slack, errors) = worker.await.unwrap();
        stats.count += latencies.len();
        stats.errors += errors;
        stats.latencies.extend(latencies);
        stats.calm.extend(calm);
        all_slack.extend(slack);
    }
    (stats, all_slack)
}

/// What a send phase measured: texts that reached the provider, over how long (first to last),
/// their rate and the most in any one second.
struct SendFigures {
    count: usize,
    elapsed: Duration,
    rate: f64,
    max_in_any_second: usize,
}

/// Queues `messages` one-segment texts, then sends them from two processes sharing one number
/// at `rate` segments a second, timing their arrivals at the local provider.
async fn send_phase(
    redis_url: &str,
    provider_url: &str,
    arrivals: &Arc<Mutex<Vec<Instant>>>,
    prefix: &str,
    rate: f64,
    messages: usize,
) -> SendFigures {
    let first = Application::build(settings(redis_url, prefix, provider_url, rate))
        .await
        .unwrap()
        .without_workers();
    let second = Application::build(settings(redis_url, prefix, provider_url, rate))
        .await
        .unwrap()
        .without_workers();
    let state = first.state();
    let program = state.programs.iter().next().unwrap().clone();
    for i in 0..messages {
        let phone =
            loyalty_gateway::domain::PhoneNumber::parse_e164(&format!("+1415{:07}", 5_550_000 + i))
                .unwrap();
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
    let deadline =
        Instant::now() + Duration::from_secs_f64(messages as f64 / rate.min(1e5) * 2.0 + 60.0);
    while arrivals.lock().unwrap().len() < messages && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    for worker in workers {
        let _ = worker.await;
    }
    let mut times = arrivals.lock().unwrap().clone();
    times.sort_unstable();
    let elapsed = times.last().unwrap().duration_since(times[0]);
    // The largest number of arrivals within one second of any arrival (two pointers).
    let mut max_in_any_second = 0;
    let mut end = 0;
    for (start, t) in times.iter().enumerate() {
        while end < times.len() && times[end].duration_since(*t) < Duration::from_secs(1) {
            end += 1;
        }
        max_in_any_second = max_in_any_second.max(end - start);
    }
    SendFigures {
        count: times.len(),
        elapsed,
        rate: (times.len() - 1) as f64 / elapsed.as_secs_f64(),
        max_in_any_second,
    }
}

/// Two senders sharing one number: with the rate limit off, what the senders and the local
/// provider take; then throttled at 50 segments a second for a minute, which must hold across
/// both processes.
async fn send_phases(redis_url: &str, provider_url: &str, arrivals: &Arc<Mutex<Vec<Instant>>>) {
    let dispatch = send_phase(
        redis_url,
        provider_url,
        arrivals,
        "bench-dispatch",
        1e6,
        20_000,
    )
    .await;
    let dispatch_rate = dispatch.count as f64 / dispatch.elapsed.as_secs_f64();
    let rate = 50.0;
    let throttled = send_phase(redis_url, provider_url, arrivals, "bench-send", rate, 3_000).await;
    println!();
    println!(
        "dispatch, 2 processes, 1 number, rate limit off: {} texts, {MAX_IN_FLIGHT} in flight each",
        dispatch.count
    );
    println!(
        "sent                      {:>7.0} texts/s  (target >= 5,000)",
        dispatch_rate
    );
    println!(
        "send rate, 2 processes, 1 number: {} texts of 1 segment over {:.1} s",
        throttled.count,
        throttled.elapsed.as_secs_f64()
    );
    println!(
        "configured                 {:>6.2} segments/s (burst 1)",
        rate
    );
    println!(
        "measured                   {:>6.2} segments/s",
        throttled.rate
    );
    println!(
        "most in any 1 s window     {:>6}  (at most rate + burst: {})",
        throttled.max_in_any_second,
        rate as usize + 1
    );
    println!(
        "measured / configured      {:>6.3}  (within 2 %: 0.980-1.000)",
        throttled.rate / rate
    );
    record(
        "dispatch, rate limit off, texts/s",
        dispatch_rate,
        "texts/s",
        Some(("target", 5000.0)),
    );
    record(
        "send rate, 2 processes, 1 number, 60 s",
        throttled.rate,
        "segments/s",
        Some(("configured", rate)),
    );
    record(
        "send rate, most in any 1 s window",
        throttled.max_in_any_second as f64,
        "segments",
        Some(("rate + burst", rate + 1.0)),
    );
}

/// A gateway (API only) on `settings`; its base URL.
async fn api(settings: Settings) -> String {
    let app = Application::build(settings)
        .await
        .unwrap()
        .without_workers();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

fn print_row(name: &str, stats: &mut Stats) {
    println!(
        "{:<44} {:>9.0} {:>8.2}ms {:>8.2}ms {:>8}",
        name,
        stats.rps(),
        stats.percentile(0.5).as_secs_f64() * 1000.0,
        stats.percentile(0.99).as_secs_f64() * 1000.0,
        stats.errors
    );
}

struct Stats {
    count: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// The latencies of the calls during which Redis had no child writing its dataset (an
    /// append-only file rewrite: see [`watch_redis_children`]).
    calm: Vec<Duration>,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        percentile(&mut self.latencies, p)
    }

    /// The percentile of the calls made while Redis had no child (see [`Stats::calm`]).
    fn calm_percentile(&mut self, p: f64) -> Duration {
        percentile(&mut self.calm, p)
    }
}

fn percentile(latencies: &mut [Duration], p: f64) -> Duration {
    latencies.sort_unstable();
    let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
    latencies.get(i).copied().unwrap_or_default()
}

/// Stalls of the whole machine, as a thread that asks to sleep 2 ms sees them: every wake-up
/// more than [`StallWatch::LATE`] late. On the bench machine (a virtual machine) everything
/// stopped now and then for 50-65 ms (a C program doing the same beside the bench saw the same
/// moments), and an open-loop phase shows each such stop in every request due during it.
struct StallWatch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Duration>>,
}

impl StallWatch {
    const LATE: Duration = Duration::from_millis(5);

    fn start() -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut stalls = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let asleep = Instant::now();
                std::thread::sleep(Duration::from_millis(2));
                let late = asleep.elapsed().saturating_sub(Duration::from_millis(2));
                if late > Self::LATE {
                    stalls.push(late);
                }
            }
            stalls
        });
        Self { stop, thread }
    }

    /// How long each stall it saw lasted.
    fn stop(self) -> Vec<Duration> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the stall watch")
    }
}

/// Whether redis-server has a child writing its dataset (an append-only file rewrite, or a
/// snapshot), as [`watch_redis_children`] last saw it.
static REDIS_CHILD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Polls `INFO persistence` every 5 ms until the answer is dropped, keeping [`REDIS_CHILD`]: a
/// rewrite is a fork, then a child writing the whole dataset on the same two cores while the
/// parent copies every page it writes to, and the calls made meanwhile are slower for it.
/// Knowing which calls it covered tells that cost from the gateway's own.
fn watch_redis_children(redis_url: &str) -> tokio::task::JoinHandle<()> {
    let client = redis::Client::open(redis_url).unwrap();
    tokio::spawn(async move {
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        loop {
            let info = redis_info(&mut conn, "persistence").await;
            let child = info
                .lines()
                .any(|l| l == "aof_rewrite_in_progress:1" || l == "rdb_bgsave_in_progress:1");
            REDIS_CHILD.store(child, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

/// Whether the calls made since `before` (REDIS_CHILD then) ran with no Redis child.
fn calm_since(before: bool) -> bool {
    !before && !REDIS_CHILD.load(std::sync::atomic::Ordering::Relaxed)
}

impl Stats {}

/// Runs `op(worker, iteration)` from CONCURRENCY tasks (on the load generator) for PHASE.
async fn load<F, Fut>(op: F) -> Stats
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    load_for(PHASE, op).await
}

/// Runs `op(worker, iteration)` from CONCURRENCY tasks for `phase`.
async fn load_for<F, Fut>(phase: Duration, op: F) -> Stats
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    load_until(Until::For(phase), op).await
}

/// Runs `op(worker, iteration)` `per_worker` times from each of CONCURRENCY tasks: a fixed
/// amount of work, for figures that are counts rather than rates.
async fn load_count<F, Fut>(per_worker: usize, op: F) -> Stats
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    load_until(Until::Iterations(per_worker), op).await
}

/// When each load task stops.
#[derive(Clone, Copy)]
enum Until {
    /// After a time. Each task first makes one call that is not counted, and the clock starts
    /// once all have: the load generator's connections are open (the gateway closes them when
    /// they idle between phases) and what a first call pays once (a worker's Redis connection,
    /// the scripts' library) is paid, so the phase times the load it is named for, from its
    /// first moment.
    For(Duration),
    /// After a number of calls, every one counted: for figures that are counts.
    Iterations(usize),
}

async fn load_until<F, Fut>(until: Until, op: F) -> Stats
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let ready = Arc::new(tokio::sync::Barrier::new(CONCURRENCY));
    let started = Arc::new(std::sync::OnceLock::<Instant>::new());
    let tasks = (0..CONCURRENCY).map(|worker| {
        let (op, ready, started) = (op.clone(), ready.clone(), started.clone());
        LOAD_GENERATOR.spawn(async move {
            let (mut latencies, mut calm) = (Vec::new(), Vec::new());
            let mut errors = 0;
            let mut i = 0;
            if let Until::For(_) = until {
                op(worker, i).await;
                i += 1;
            }
            ready.wait().await;
            let start = *started.get_or_init(Instant::now);
            while match until {
                Until::For(phase) => start.elapsed() < phase,
                Until::Iterations(n) => i < n,
            } {
                let (t, child) = (
                    Instant::now(),
                    REDIS_CHILD.load(std::sync::atomic::Ordering::Relaxed),
                );
                if !op(worker, i).await {
                    errors += 1;
                }
                latencies.push(t.elapsed());
                if calm_since(child) {
                    calm.push(t.elapsed());
                }
                i += 1;
            }
            (latencies, calm, errors)
        })
    });
    let mut stats = Stats {
        count: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        calm: Vec::new(),
    };
    for task in futures_util::future::join_all(tasks).await {
        let (latencies, calm, errors) = task.expect("load task");
        stats.count += latencies.len();
        stats.errors += errors;
        stats.latencies.extend(latencies);
        stats.calm.extend(calm);
    }
    stats.elapsed = started.get().expect("every task started").elapsed();
    stats
}

/// One section of Redis's `INFO`.
async fn redis_info(conn: &mut redis::aio::MultiplexedConnection, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .unwrap()
}

/// How many times Redis has rewritten its append-only file since it started.
async fn aof_rewrites(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    redis_info(conn, "persistence")
        .await
        .lines()
        .find_map(|l| l.strip_prefix("aof_rewrites:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Microseconds Redis spent per call of `command` since the statistics were last reset.
async fn usec_per_call(conn: &mut redis::aio::MultiplexedConnection, command: &str) -> f64 {
    let info = redis_info(conn, "commandstats").await;
    info.lines()
        .find(|l| l.starts_with(&format!("cmdstat_{command}:")))
        .and_then(|l| l.split("usec_per_call=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Calls of every command but the script calls themselves (and the statistics reads): what
/// the scripts ran inside, since the server started.
async fn commands_inside_scripts(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info = redis_info(conn, "commandstats").await;
    info.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter(|l| {
            let name = l.split(':').next().unwrap_or("");
            !matches!(
                name,
                "fcall"
                    | "function"
                    | "evalsha"
                    | "eval"
                    | "info"
                    | "script"
                    | "config"
                    | "ping"
                    | "hello"
                    | "client"
            )
        })
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// `field` (`calls`, `usec`) of `command` in Redis's command statistics.
async fn command_stat(
    conn: &mut redis::aio::MultiplexedConnection,
    command: &str,
    field: &str,
) -> u64 {
    let info = redis_info(conn, "commandstats").await;
    info.lines()
        .find(|l| l.starts_with(&format!("cmdstat_{command}:")))
        .and_then(|l| l.split(&format!("{field}=")).nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Calls of scripts and the microseconds Redis spent in them, since the server started: the
/// scripts' functions (FCALL), and scripts sent whole (EVAL, EVALSHA).
async fn script_calls(conn: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
    let (mut calls, mut usec) = (0, 0);
    for command in ["fcall", "evalsha", "eval"] {
        calls += command_stat(conn, command, "calls").await;
        usec += command_stat(conn, command, "usec").await;
    }
    (calls, usec)
}

/// The provider's id of its `n`th message.
fn sid(n: usize) -> String {
    format!("SM{n:032x}")
}

/// A provider stand-in that records when each request arrived, and answers the `n`th with
/// [`sid`]`(n)`.
async fn recording_provider() -> (String, Arc<Mutex<Vec<Instant>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let data = web::Data::new(arrivals.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).default_service(web::to(
            |arrivals: web::Data<Arc<Mutex<Vec<Instant>>>>| async move {
                let n = {
                    let mut arrivals = arrivals.lock().unwrap();
                    arrivals.push(Instant::now());
                    arrivals.len()
                };
                // A message SID as Twilio makes them: SM and 32 hex digits.
                HttpResponse::Created()
                    .json(serde_json::json!({ "sid": sid(n), "status": "queued" }))
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
    // `cargo bench --bench gateway -- campaigns` runs the campaign phases alone (cargo passes
    // `--bench` itself, so flags are skipped).
    let only_campaigns = std::env::args().skip(1).any(|a| a == "campaigns");
    let only_import = std::env::args().skip(1).any(|a| a == "import");
    // `-- earn`: the first table alone (earn against its ceilings, commands per earn).
    let only_earn = std::env::args().skip(1).any(|a| a == "earn");
    // `-- memory`: Redis bytes per member.
    let only_memory = std::env::args().skip(1).any(|a| a == "memory");
    // `-- process`: the release binary in its own process (log levels, CPU per earn).
    let only_process = std::env::args().skip(1).any(|a| a == "process");
    // `-- send`: dispatch with the rate limit off, then throttled for a minute.
    let only_send = std::env::args().skip(1).any(|a| a == "send");
    // `-- instructions`: Redis instructions per earn, under valgrind.
    let only_instructions = std::env::args().skip(1).any(|a| a == "instructions");
    // The Redis children are tied to the thread that starts them: the main thread.
    let dir = tempfile::tempdir().unwrap();
    // Append-only, fsync every second: as the cluster nodes run.
    // `-- unpinned`: Redis's threads wherever the kernel puts them (see `RedisAffinity`).
    let affinity = if std::env::args().skip(1).any(|a| a == "unpinned") {
        None
    } else {
        RedisAffinity::of_this_machine()
    };
    let affinity_args = affinity.as_ref().map_or_else(Vec::new, RedisAffinity::args);
    let redis = RedisServer::start_with(
        loyalty_gateway::embedded::free_port().unwrap(),
        &dir.path().join("single"),
        true,
        &affinity_args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .expect("redis-server");
    match &affinity {
        Some(affinity) => println!(
            "Redis's main thread on CPU {}; its fsync threads and rewrite child on CPUs {} \
             (`-- unpinned` leaves them to the kernel)",
            affinity.server, affinity.others
        ),
        None => println!("Redis's threads unpinned"),
    }
    REPORT_SETTINGS.lock().unwrap().push((
        "redis_main_thread_cpu",
        affinity
            .as_ref()
            .map_or(serde_json::Value::Null, |a| a.server.into()),
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if only_earn {
        runtime.block_on(run(redis.url(), Vec::new(), true));
    } else if only_memory {
        runtime.block_on(async {
            let (provider_url, arrivals) = recording_provider().await;
            memory_phase(&redis.url(), &provider_url, arrivals).await
        });
    } else if only_process {
        runtime.block_on(async {
            let (provider_url, _) = recording_provider().await;
            process_phase(&redis.url(), &provider_url).await
        });
    } else if only_send {
        runtime.block_on(async {
            let (provider_url, arrivals) = recording_provider().await;
            send_phases(&redis.url(), &provider_url, &arrivals).await
        });
    } else if only_instructions {
        runtime.block_on(async {
            let (provider_url, _) = recording_provider().await;
            instructions_phase(&provider_url).await
        });
    } else if only_import {
        runtime.block_on(import_phase(&redis.url()));
    } else if only_campaigns {
        runtime.block_on(async {
            let (provider_url, _) = recording_provider().await;
            campaign_phases(&redis.url(), &provider_url).await
        });
    } else {
        let cluster = LocalCluster::start(&dir.path().join("cluster"));
        runtime.block_on(run(redis.url(), cluster.urls(), false));
        drop(cluster);
        runtime.block_on(async {
            let (provider_url, _) = recording_provider().await;
            instructions_phase(&provider_url).await
        });
    }
    drop(redis);
    write_report();
}

async fn run(redis_url: String, cluster_urls: Vec<String>, only_earn: bool) {
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
    let http = LoadClient::new(&base);

    let client = http.clone();
    let mut healthz = load(move |worker, _| {
        let client = client.clone();
        async move { client.get(worker, "/healthz").await }
    })
    .await;

    let redis_client = redis::Client::open(redis_url.as_str()).unwrap();
    let noop = redis::Script::new("return 1");
    let conn = redis::aio::ConnectionManager::new(redis_client.clone())
        .await
        .unwrap();
    let mut stats_conn = redis_client
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let noop_before = script_calls(&mut stats_conn).await;
    let mut script_ceiling = load(move |_, _| {
        let mut conn = conn.clone();
        let noop = noop.clone();
        async move { noop.invoke_async::<_, i64>(&mut conn).await.is_ok() }
    })
    .await;
    let noop_after = script_calls(&mut stats_conn).await;
    let noop_usec =
        (noop_after.1 - noop_before.1) as f64 / (noop_after.0 - noop_before.0).max(1) as f64;

    let rewrites_before = aof_rewrites(&mut stats_conn).await;
    let children = watch_redis_children(&redis_url);
    let client = http.clone();
    let mut earn = load(move |worker, i| {
        let client = client.clone();
        async move {
            let phone = scattered_member_phone(5, worker, i);
            post_earn(
                &client,
                worker,
                KEY,
                &phone,
                1250 + i as i64,
                &format!("B-{worker}-{i}"),
            )
            .await
        }
    })
    .await;

    // The latency a till sees at a steady load, not at saturation: with 32 closed-loop clients
    // the median is 32 divided by the throughput (Little's law), whatever the gateway does.
    // Half the throughput just measured, from the same 32 connections, open loop.
    let steady_rate = earn.rps() / 2.0;
    let stall_watch = StallWatch::start();
    let (mut steady, mut slack) = earn_at_rate(&base, KEY, steady_rate, PHASE).await;
    let stalls = stall_watch.stop();
    let longest_stall = stalls.iter().max().copied().unwrap_or_default();
    // Redis rewrites its append-only file when it has doubled (64 MB at least): a fork, then a
    // child writing the whole dataset, on the same two cores. It shows in the tail.
    let rewrites = aof_rewrites(&mut stats_conn).await - rewrites_before;
    children.abort();

    // Signed inbound texts: a Twilio webhook with its signature checked, the keyword parsed and
    // its script run (BAL: a balance and a reply queued), against GET /healthz.
    let client = http.clone();
    let run_id = rand::random::<u32>();
    let mut inbound = load(move |worker, i| {
        let client = client.clone();
        async move {
            let from = member_phone(5, worker, i);
            let params: Vec<(String, String)> = [
                ("MessageSid", format!("SM{run_id:08x}{worker:04x}{i:020x}")),
                ("From", from),
                ("To", "+15005550000".to_owned()),
                ("Body", "BAL".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let signature = loyalty_gateway::inbound::signature::twilio_signature(
                "bench",
                "http://127.0.0.1/webhooks/twilio",
                &params,
            );
            client
                .post(
                    worker,
                    "/webhooks/twilio",
                    &[
                        ("X-Twilio-Signature", &signature),
                        ("Content-Type", "application/x-www-form-urlencoded"),
                    ],
                    loyalty_gateway::outbound::providers::form_body(&params).as_bytes(),
                )
                .await
        }
    })
    .await;

    // What an earn costs Redis, counted rather than timed: the commands its script runs, over
    // a fixed set of earns (new members, then returning ones crossing the reward threshold),
    // so that the figure is the same from run to run.
    let inside_before = commands_inside_scripts(&mut stats_conn).await;
    let scripts_before = script_calls(&mut stats_conn).await;
    let client = http.clone();
    let counted = load_count(COUNTED_EARNS / CONCURRENCY, move |worker, i| {
        let client = client.clone();
        async move {
            let receipt = format!("N-{worker}-{i}");
            post_earn(
                &client,
                worker,
                KEY,
                &member_phone(6, worker, i),
                1250,
                &receipt,
            )
            .await
        }
    })
    .await;
    let scripts_after = script_calls(&mut stats_conn).await;
    let scripts_per_earn = (scripts_after.0 - scripts_before.0) as f64 / counted.count as f64;
    let script_usec = (scripts_after.1 - scripts_before.1) as f64
        / (scripts_after.0 - scripts_before.0).max(1) as f64;
    let commands_per_earn = (commands_inside_scripts(&mut stats_conn).await - inside_before) as f64
        / counted.count as f64;

    let client = http.clone();
    let mut replay = load(move |worker, _| {
        let client = client.clone();
        async move {
            post_earn(
                &client,
                worker,
                KEY,
                "+14155550100",
                1250,
                &format!("replay-{}", worker % 4),
            )
            .await
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
        ("POST /v1/earn at half that rate", &mut steady),
        ("signed inbound text (BAL)", &mut inbound),
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
    println!(
        "Redis commands per earn     {:>6.1}  (run by the earn script over {COUNTED_EARNS} earns; a count, not a timing)",
        commands_per_earn
    );
    println!(
        "Redis time per earn script {:>6.1} us  (same earns; the no-op script: {noop_usec:.1} us)",
        script_usec
    );
    println!(
        "AOF rewrites during the saturated and half-rate earns: {rewrites} (each a fork and a child writing the dataset)"
    );
    for (name, stats) in [("saturated", &mut earn), ("half rate", &mut steady)] {
        println!(
            "earn p99 {name}, calls while Redis had no child: {:.2} ms ({} of {} calls)",
            stats.calm_percentile(0.99).as_secs_f64() * 1000.0,
            stats.calm.len(),
            stats.latencies.len()
        );
    }
    println!(
        "half rate: the machine stalled {} times for more than {} ms (longest {:.1} ms), as a sleeping thread saw it",
        stalls.len(),
        StallWatch::LATE.as_millis(),
        longest_stall.as_secs_f64() * 1000.0
    );
    let (slack_p50, slack_p99) = (percentile(&mut slack, 0.5), percentile(&mut slack, 0.99));
    println!(
        "half rate: the load generator's timer slack, not counted: p50 {:.2} ms, p99 {:.2} ms ({} of {} calls sent on a free connection)",
        slack_p50.as_secs_f64() * 1000.0,
        slack_p99.as_secs_f64() * 1000.0,
        slack.len(),
        steady.latencies.len() + steady.errors
    );
    record(
        "earn over HTTP, req/s",
        earn.rps(),
        "req/s",
        Some(("no-op Lua script on the same Redis", script_ceiling.rps())),
    );
    record(
        "earn over HTTP, req/s (HTTP ceiling)",
        earn.rps(),
        "req/s",
        Some(("GET /healthz", healthz.rps())),
    );
    record(
        "earn over HTTP, p50",
        earn.percentile(0.5).as_secs_f64() * 1000.0,
        "ms",
        None,
    );
    record(
        "earn over HTTP, p99",
        earn.percentile(0.99).as_secs_f64() * 1000.0,
        "ms",
        Some(("target", 5.0)),
    );
    record(
        "earn over HTTP, p99 of the calls while Redis had no child (AOF rewrite)",
        earn.calm_percentile(0.99).as_secs_f64() * 1000.0,
        "ms",
        Some(("target", 5.0)),
    );
    record(
        "earn over HTTP at half the measured rate, p50",
        steady.percentile(0.5).as_secs_f64() * 1000.0,
        "ms",
        None,
    );
    record(
        "earn over HTTP at half the measured rate, p99",
        steady.percentile(0.99).as_secs_f64() * 1000.0,
        "ms",
        Some(("target", 5.0)),
    );
    record(
        "earn at half the measured rate, the machine's longest stall meanwhile",
        longest_stall.as_secs_f64() * 1000.0,
        "ms",
        None,
    );
    record(
        "earn at half the measured rate, the load generator's timer slack (not counted), p50",
        slack_p50.as_secs_f64() * 1000.0,
        "ms",
        None,
    );
    record(
        "signed inbound text (Twilio webhook, BAL), req/s",
        inbound.rps(),
        "req/s",
        Some(("GET /healthz", healthz.rps())),
    );
    record(
        "Redis scripts per earn",
        scripts_per_earn,
        "calls",
        Some(("target", 1.0)),
    );
    record(
        "Redis commands per earn",
        commands_per_earn,
        "commands",
        None,
    );
    record(
        "Redis time per earn script call",
        script_usec,
        "us",
        Some(("no-op Lua script", noop_usec)),
    );
    if only_earn {
        return;
    }

    send_phases(&redis_url, &provider_url, &arrivals).await;

    // --- Redis Cluster: three programs on three masters, against one node -------------------
    let one_node = api(settings(&redis_url, "bench-scale", &provider_url, 1000.0)).await;
    let on_cluster = |acks: u32| {
        let mut settings = settings(&redis_url, "bench-cluster", &provider_url, 1000.0);
        settings.redis.cluster_nodes = cluster_urls.iter().map(|u| u.clone().into()).collect();
        settings.redis.min_replicas_acked = acks;
        settings
    };
    let cluster = api(on_cluster(0)).await;
    let cluster_acks = api(on_cluster(1)).await;
    // The per-program ceiling: one program's earns all run on one node, so it can never earn
    // faster than one Redis runs the earn script. Measured without HTTP: the ledger straight.
    let ledger_state =
        Application::build(settings(&redis_url, "bench-ledger", &provider_url, 1000.0))
            .await
            .unwrap()
            .state();
    let ledger = ledger_state.ledger.clone();
    let program = ledger_state.programs.iter().next().unwrap().clone();
    let run_id = rand::random::<u32>();
    let mut ledger_only = load(move |worker, i| {
        let ledger = ledger.clone();
        let program = program.clone();
        async move {
            let cmd = loyalty_gateway::ledger::EarnCommand {
                phone: loyalty_gateway::domain::PhoneNumber::parse_e164(&scattered_member_phone(
                    5, worker, i,
                ))
                .unwrap(),
                amount: loyalty_gateway::domain::Amount::parse(1250).unwrap(),
                location: loyalty_gateway::domain::LocationId::parse("store-1").unwrap(),
                receipt: loyalty_gateway::domain::Receipt::parse(&format!(
                    "L-{run_id}-{worker}-{i}"
                ))
                .unwrap(),
                tender: None,
                first_name: None,
            };
            ledger.earn(&program, &cmd).await.is_ok()
        }
    })
    .await;
    let mut one_node_three = earn_phase(&one_node, &PROGRAMS).await;
    let mut cluster_three = earn_phase(&cluster, &PROGRAMS).await;
    let mut cluster_one = earn_phase(&cluster, &PROGRAMS[..1]).await;
    let mut cluster_three_acks = earn_phase(&cluster_acks, &PROGRAMS).await;
    println!();
    println!(
        "{:<44} {:>9} {:>10} {:>10} {:>8}",
        "earn, new receipts", "req/s", "p50", "p99", "errors"
    );
    print_row("earn script only, one node (no HTTP)", &mut ledger_only);
    print_row("one node, 3 programs", &mut one_node_three);
    print_row("3-master cluster, 3 programs", &mut cluster_three);
    print_row("3-master cluster, 1 program (one slot)", &mut cluster_one);
    print_row(
        "3-master cluster, 3 programs, replica acks",
        &mut cluster_three_acks,
    );
    println!();
    println!(
        "cluster / one node          {:>6.2}  (3 programs; all processes share this machine's cores)",
        cluster_three.rps() / one_node_three.rps()
    );
    println!(
        "one program / cluster       {:>6.2}  (a program's keys share one slot: one master's)",
        cluster_one.rps() / cluster_three.rps()
    );
    println!(
        "per-program ceiling        {:>7.0}  earns/s: the earn script on one Redis node, no HTTP",
        ledger_only.rps()
    );
    record(
        "earn, 3-master cluster, 3 programs",
        cluster_three.rps(),
        "req/s",
        Some(("one node, 3 programs", one_node_three.rps())),
    );
    record(
        "earn script on one node, no HTTP",
        ledger_only.rps(),
        "earns/s",
        None,
    );
    println!(
        "replica acks: p50 {:+.2} ms, p99 {:+.2} ms, throughput x{:.2}",
        (cluster_three_acks.percentile(0.5).as_secs_f64()
            - cluster_three.percentile(0.5).as_secs_f64())
            * 1000.0,
        (cluster_three_acks.percentile(0.99).as_secs_f64()
            - cluster_three.percentile(0.99).as_secs_f64())
            * 1000.0,
        cluster_three_acks.rps() / cluster_three.rps()
    );
    // Last: 100,000 members and their texts make the single node's later work slower.
    campaign_phases(&redis_url, &provider_url).await;
    import_phase(&redis_url).await;
    let (memory_provider, arrivals) = recording_provider().await;
    memory_phase(&redis_url, &memory_provider, arrivals).await;
    process_phase(&redis_url, &provider_url).await;
}

/// Rows of the import phase's file.
const IMPORT_ROWS: usize = 100_000;

/// `loyalty-gateway import` of a 100,000-row file (phone, name, locale, consent, balance),
/// through the same function the command runs, against the target of 20,000 rows/s; and the
/// same file again (every row already a member), which must change nothing.
async fn import_phase(redis_url: &str) {
    let (provider_url, _) = recording_provider().await;
    let state = Application::build(settings(redis_url, "bench-import", &provider_url, 1000.0))
        .await
        .unwrap()
        .state();
    let program = state.programs.iter().next().unwrap().clone();
    let mut file = String::from("phone,first_name,locale,consent,balance\n");
    for i in 0..IMPORT_ROWS {
        let phone = format!("+1312{}{:04}", 201 + i / 10_000, i % 10_000);
        let consent = if i % 3 == 0 { "" } else { "yes" };
        file.push_str(&format!("{phone},Name{i},en,{consent},{}\n", i % 500));
    }
    let (state, program, file) = (&state, &program, &file);
    let run = |dry_run: bool| async move {
        let options = loyalty_gateway::import::Options {
            dry_run,
            ..Default::default()
        };
        let started = Instant::now();
        let summary = loyalty_gateway::import::import(
            &state.store,
            "bench-import",
            &state.clock,
            program,
            &state.programs,
            file.as_bytes(),
            "bench.csv",
            &loyalty_gateway::import::Columns::default(),
            &options,
            86_400,
            |_| {},
        )
        .await
        .unwrap();
        (summary, started.elapsed())
    };
    // A dry run first: every row read and checked, nothing written (the CSV and phone
    // parsing's share of the time).
    let (_, checking) = run(true).await;
    let (first, took) = run(false).await;
    let (again, took_again) = run(false).await;
    println!();
    println!(
        "import, {IMPORT_ROWS} rows          {:>8.0} rows/s  ({:.2} s; target 20,000 rows/s; {} created, {} rejected)",
        IMPORT_ROWS as f64 / took.as_secs_f64(),
        took.as_secs_f64(),
        first.imported.created,
        first.rejected.len()
    );
    println!(
        "checking alone (dry run)   {:>8.0} rows/s  ({:.2} s)",
        IMPORT_ROWS as f64 / checking.as_secs_f64(),
        checking.as_secs_f64()
    );
    println!(
        "the same file again        {:>8.0} rows/s  ({:.2} s; {} already members, {} created)",
        IMPORT_ROWS as f64 / took_again.as_secs_f64(),
        took_again.as_secs_f64(),
        again.imported.existing,
        again.imported.created
    );
    record(
        "import, 100,000 rows",
        IMPORT_ROWS as f64 / took.as_secs_f64(),
        "rows/s",
        Some(("target", 20_000.0)),
    );
    record(
        "import, checking alone (dry run)",
        IMPORT_ROWS as f64 / checking.as_secs_f64(),
        "rows/s",
        None,
    );
}

/// Members of the campaign phases' program.
const CAMPAIGN_MEMBERS: usize = 100_000;

/// The `i`-th bench member: New York numbers, 212-201-0000 on.
fn bench_phone(i: usize) -> String {
    format!("+1212{}{:04}", 201 + i / 10_000, i % 10_000)
}

/// Campaign preview and fan-out on 100,000 members, and earn with attribution on and off.
async fn campaign_phases(redis_url: &str, provider_url: &str) {
    let prefix = "bench-campaign";
    let state = Application::build(settings(redis_url, prefix, provider_url, 1000.0))
        .await
        .unwrap()
        .state();
    let program = state.programs.iter().next().unwrap().clone();

    // Active members as JOIN leaves them, written in pipelines (seeding 100,000 through the
    // webhook would measure the webhook).
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let base_key = format!("{prefix}:{{{}}}:", program.id.as_str());
    let now_ms = chrono::Utc::now().timestamp_millis();
    for chunk in (0..CAMPAIGN_MEMBERS).collect::<Vec<_>>().chunks(5_000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            let phone = bench_phone(i);
            pipe.cmd("HSET")
                .arg(format!("{base_key}m:{phone}"))
                .arg(&[
                    ("phone", phone.clone()),
                    ("balance", (i % 700).to_string()),
                    ("lifetime", (i % 700).to_string()),
                    ("visits", (i % 9).to_string()),
                    ("status", "active".into()),
                    ("tier", "member".into()),
                    ("locale", "en".into()),
                    ("joined_ms", now_ms.to_string()),
                    ("created_via", "sms".into()),
                ])
                .ignore();
            pipe.cmd("ZADD")
                .arg(format!("{base_key}members"))
                .arg(now_ms)
                .arg(&phone)
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await.unwrap();
    }

    let draft = loyalty_gateway::campaigns::Draft {
        name: "Bench".into(),
        body: "{{ program }}: {{ first_name }}, you have {{ balance }} pts. Double points this weekend!"
            .into(),
        holdout_percent: 50.0,
        attribution_days: 7,
        ..Default::default()
    };
    let campaign = state.campaigns.create(&program, &draft).await.unwrap();
    let started = Instant::now();
    let preview = state
        .campaigns
        .preview(&program, &campaign.id)
        .await
        .unwrap();
    let preview_time = started.elapsed();
    let started = Instant::now();
    state
        .campaigns
        .start(&program, &campaign.id, None)
        .await
        .unwrap();
    while state.campaigns.run_active(&program, 10_000).await.unwrap() > 0 {}
    let fan_out_time = started.elapsed();
    let done = state
        .campaigns
        .get(&program, &campaign.id)
        .await
        .unwrap()
        .unwrap();

    // Who was touched (the holdout, at the draw) and who was not (texts queued, not sent).
    let outcomes: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{base_key}campaign:{}:recipients", campaign.id))
        .query_async(&mut conn)
        .await
        .unwrap();
    let (touched, untouched): (Vec<String>, Vec<String>) = {
        let mut touched = Vec::new();
        let mut untouched = Vec::new();
        for (phone, outcome) in outcomes {
            if outcome == "holdout" {
                touched.push(phone);
            } else {
                untouched.push(phone);
            }
        }
        (touched, untouched)
    };
    // Attribution is counted inside the earn script, so its cost is the script's: measured
    // without HTTP (the ledger straight), in short rounds alternated between members the
    // campaign touched and members it did not, so neither side runs only while the store is
    // busier (an AOF rewrite of 100,000 members lands in one round or another). Redis's own
    // time per script call, from its command statistics reset before each round, is the
    // figure no other process on the machine can blur.
    let ledger = state.ledger.clone();
    let earn_for = |phones: Arc<Vec<String>>, round: usize, phase: Duration| {
        let ledger = ledger.clone();
        let program = program.clone();
        load_for(phase, move |worker, i| {
            let ledger = ledger.clone();
            let program = program.clone();
            let phones = phones.clone();
            async move {
                let cmd = loyalty_gateway::ledger::EarnCommand {
                    phone: loyalty_gateway::domain::PhoneNumber::parse_e164(
                        &phones[(worker * 7919 + i * 31) % phones.len()],
                    )
                    .unwrap(),
                    amount: loyalty_gateway::domain::Amount::parse(1250).unwrap(),
                    location: loyalty_gateway::domain::LocationId::parse("store-1").unwrap(),
                    receipt: loyalty_gateway::domain::Receipt::parse(&format!(
                        "A{round}-{worker}-{i}"
                    ))
                    .unwrap(),
                    tender: None,
                    first_name: None,
                };
                ledger.earn(&program, &cmd).await.is_ok()
            }
        })
    };
    let (touched, untouched) = (Arc::new(touched), Arc::new(untouched));
    const ROUNDS: usize = 6;
    let (mut throughput, mut script_time) = (Vec::new(), Vec::new());
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let mut pair = [0.0f64; 2];
        let mut usec = [0.0f64; 2];
        // Which side goes first alternates too.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let phones = if side == 0 { &untouched } else { &touched };
            let () = redis::cmd("CONFIG")
                .arg("RESETSTAT")
                .query_async(&mut conn)
                .await
                .unwrap();
            let stats = earn_for(phones.clone(), round * 2 + side, Duration::from_secs(2)).await;
            pair[side] = stats.rps();
            usec[side] = usec_per_call(&mut conn, "fcall").await;
            if side == 0 { &mut without } else { &mut with }.push(stats);
        }
        throughput.push(pair[1] / pair[0]);
        script_time.push(usec[1] / usec[0]);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    let spread = |v: &[f64]| {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{min:.2}-{max:.2}")
    };
    let merged = |rounds: Vec<Stats>| {
        let mut all = Stats {
            count: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
            calm: Vec::new(),
        };
        for stats in rounds {
            all.count += stats.count;
            all.errors += stats.errors;
            all.elapsed += stats.elapsed;
            all.latencies.extend(stats.latencies);
            all.calm.extend(stats.calm);
        }
        all
    };
    let (mut with, mut without) = (merged(with), merged(without));
    let attributed: i64 = redis::cmd("HGET")
        .arg(format!("{base_key}campaign:{}", campaign.id))
        .arg("h:visits")
        .query_async::<Option<i64>>(&mut conn)
        .await
        .unwrap()
        .unwrap_or(0);

    println!();
    println!(
        "campaign on {CAMPAIGN_MEMBERS} members: {} recipients, {} held out, {} queued",
        done.recipients, done.holdout, done.queued
    );
    println!(
        "preview                    {:>8.2} s   (target 2 s; {} recipients, {} segments)",
        preview_time.as_secs_f64(),
        preview.recipients,
        preview.total_segments
    );
    println!(
        "fan-out, all queued        {:>8.2} s   (target 5 s)",
        fan_out_time.as_secs_f64()
    );
    record(
        "campaign preview, 100,000 members",
        preview_time.as_secs_f64(),
        "s",
        Some(("target", 2.0)),
    );
    record(
        "campaign fan-out, 100,000 members",
        fan_out_time.as_secs_f64(),
        "s",
        Some(("target", 5.0)),
    );
    for (name, stats) in [
        ("earn script, members not touched", &mut without),
        ("earn script, members attributed", &mut with),
    ] {
        print_row(name, stats);
    }
    println!(
        "attributed / not touched, earns/s      {:>5.2}  median of {ROUNDS} alternated 2 s rounds \
         (range {}; target >= 0.95)",
        median(throughput.clone()),
        spread(&throughput)
    );
    println!(
        "attributed / not touched, Redis time   {:>5.2}  per script call, same rounds (range {}); \
         {attributed} purchases counted for the holdout",
        median(script_time.clone()),
        spread(&script_time)
    );
    record(
        "earn script, attributed / not touched",
        median(throughput.clone()),
        "ratio",
        Some(("target", 0.95)),
    );
}

/// Earns per round of the process phase (a multiple of CONCURRENCY).
const PROCESS_EARNS: usize = 16_000;
/// Rounds per log level, alternated. A round takes under a second, and on the bench machine
/// one level's rounds ranged over a fifth of their median in one run (a rewrite of Redis's
/// append-only file, a stall of the machine): nine rather than five, for a steadier median.
const PROCESS_ROUNDS: usize = 9;

/// CPU seconds `pid` has used (user and system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / per_second
}

async fn redis_pid(conn: &mut redis::aio::MultiplexedConnection) -> u32 {
    let info = redis_info(conn, "server").await;
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO server names the process")
}

/// The release binary serving `config`, its JSON log lines written to a file, as deployed.
struct GatewayProcess {
    child: std::process::Child,
    base: String,
}

impl GatewayProcess {
    fn start(config: &std::path::Path, log: &std::path::Path) -> Self {
        use std::io::BufRead;
        // `GATEWAY_BIN` runs another build (one with symbols, for a profiler).
        let binary = std::env::var_os("GATEWAY_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_loyalty-gateway").into());
        let mut child = std::process::Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("the gateway binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("serve printed its address")
                .expect("stdout");
            if let Some(addr) = line.strip_prefix("listening on ") {
                break format!("http://{}", addr.trim());
            }
        };
        // Keep reading stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, base }
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway as deployed: the release binary in a process of its own. Earn at the default
/// log level (info: one JSON line per request) against earn at warn (no request lines), in
/// alternated rounds of a fixed number of earns; and the CPU time each earn costs the gateway
/// process against what it costs redis-server, both from /proc over the same rounds.
async fn process_phase(redis_url: &str, provider_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let start = |level: &str| {
        let toml = settings_toml(
            redis_url,
            &format!("bench-proc-{level}"),
            provider_url,
            1000.0,
            level,
        );
        let config = dir.path().join(format!("{level}.toml"));
        std::fs::write(&config, toml).unwrap();
        GatewayProcess::start(&config, &dir.path().join(format!("{level}.log")))
    };
    let info = start("info");
    let warn = start("warn");
    let mut conn = redis::Client::open(redis_url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let redis = redis_pid(&mut conn).await;
    let clients = [LoadClient::new(&info.base), LoadClient::new(&warn.base)];
    let round = |process: usize, round: usize| {
        let client = clients[process].clone();
        load_count(PROCESS_EARNS / CONCURRENCY, move |worker, i| {
            let client = client.clone();
            async move {
                let phone = scattered_member_phone(7, worker, round * PROCESS_EARNS + i);
                let receipt = format!("P-{round}-{worker}-{i}");
                post_earn(&client, worker, KEY, &phone, 1250, &receipt).await
            }
        })
    };
    // Warm-up: connections, script cache, the first members.
    round(0, 0).await;
    round(1, 0).await;
    let mut rates = [Vec::new(), Vec::new()];
    let mut latencies = [Vec::new(), Vec::new()];
    let (mut gateway_cpu, mut redis_cpu, mut earns) = (0.0, 0.0, 0);
    // The warn process's CPU over the same earns: what logging at info adds, in CPU rather
    // than in throughput (which the other programs on this machine move more).
    let (mut warn_cpu, mut warn_earns) = (0.0, 0);
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    for r in 1..=PROCESS_ROUNDS {
        for (i, process) in [&info, &warn].into_iter().enumerate() {
            let (gateway_before, redis_before) = (process.cpu_seconds(), cpu_seconds(redis));
            let stats = round(i, r).await;
            if i == 0 {
                gateway_cpu += process.cpu_seconds() - gateway_before;
                redis_cpu += cpu_seconds(redis) - redis_before;
                earns += stats.count;
            } else {
                warn_cpu += process.cpu_seconds() - gateway_before;
                warn_earns += stats.count;
            }
            assert_eq!(stats.errors, 0, "earns failed in the process phase");
            rates[i].push(stats.rps());
            latencies[i].extend(stats.latencies);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let p = |v: &mut Vec<Duration>, q: f64| {
        v.sort_unstable();
        v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0
    };
    let (info_rate, warn_rate) = (median(&mut rates[0]), median(&mut rates[1]));
    println!();
    println!(
        "gateway process (release binary, JSON logs to a file): {PROCESS_ROUNDS} alternated rounds of {PROCESS_EARNS} earns, {CONCURRENCY} connections"
    );
    println!(
        "{:<44} {:>9} {:>10} {:>10}",
        "earn, new receipts", "req/s", "p50", "p99"
    );
    let [info_latencies, warn_latencies] = &mut latencies;
    for (name, rate, lat) in [
        ("log level info (the default)", info_rate, info_latencies),
        ("log level warn", warn_rate, warn_latencies),
    ] {
        println!(
            "{:<44} {:>9.0} {:>8.2}ms {:>8.2}ms",
            name,
            rate,
            p(lat, 0.5),
            p(lat, 0.99)
        );
    }
    println!(
        "info / warn                {:>6.2}  (target >= 0.90)",
        info_rate / warn_rate
    );
    // `median` sorted them.
    for (name, rates) in [("info", &rates[0]), ("warn", &rates[1])] {
        let rates: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "  rounds at {name}, earns/s, slowest first: {}",
            rates.join(", ")
        );
    }
    record(
        "earn, gateway process, log level info",
        info_rate,
        "req/s",
        Some(("log level warn", warn_rate)),
    );
    let per_earn = |cpu: f64| cpu / earns as f64 * 1e6;
    let warn_per_earn = warn_cpu / warn_earns as f64 * 1e6;
    println!(
        "gateway CPU per earn, info / warn {:>5.2}  ({:.1} us / {:.1} us)",
        per_earn(gateway_cpu) / warn_per_earn,
        per_earn(gateway_cpu),
        warn_per_earn
    );
    record(
        "CPU per earn, gateway process, log level info",
        per_earn(gateway_cpu),
        "us",
        Some(("log level warn", warn_per_earn)),
    );
    record(
        "CPU per earn, gateway process",
        per_earn(gateway_cpu),
        "us",
        Some(("CPU per earn, redis-server", per_earn(redis_cpu))),
    );
    let info_stats = redis_info(&mut conn, "commandstats").await;
    let (mut calls, mut usec) = (0u64, 0u64);
    for line in info_stats.lines().filter(|l| l.starts_with("cmdstat_")) {
        let field = |name: &str| -> u64 {
            line.split(&format!("{name}="))
                .nth(1)
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        calls += field("calls");
        usec += field("usec");
    }
    let all_earns = (earns * 2) as f64;
    println!(
        "Redis per earn (both processes, from its command statistics): {:.1} commands, {:.1} us running them",
        calls as f64 / all_earns,
        usec as f64 / all_earns
    );
    println!(
        "CPU per earn: gateway {:.1} us, redis-server {:.1} us  (gateway / redis {:.2}; target <= 1.00)",
        per_earn(gateway_cpu),
        per_earn(redis_cpu),
        gateway_cpu / redis_cpu
    );
}

/// Members of the memory phase.
const MEMORY_MEMBERS: usize = 2_000;
/// Purchases each of them makes.
const MEMORY_PURCHASES: usize = 5;

/// What the keys of one kind hold: how many, and their bytes (`MEMORY USAGE`).
#[derive(Default)]
struct KeyClass {
    keys: u64,
    bytes: u64,
}

/// The kind of a program key, from its name after the program's base.
fn key_class(rest: &str) -> &'static str {
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        ["m", _] => "member record",
        ["m", _, "ledger"] => "member history",
        ["m", _, "consent"] => "member consent",
        ["m", _, "locations"] => "member locations",
        ["m", _, "codes"] => "member codes",
        ["m", _, "messages"] => "member message list",
        ["m", _, "replies", _] => "member reply cap",
        ["m", _, ..] => "member, other",
        ["receipt", "earn", ..] | ["receipts", ..] => "earn receipt",
        ["msg", _] | ["msgs", _] => "message record",
        ["sid", _] => "provider id",
        ["inbound", _] => "inbound claim",
        _ => "program-wide",
    }
}

/// Prints one member's keys as stored, with their `MEMORY USAGE`: what the bytes are.
async fn print_sample_member(
    conn: &mut redis::aio::MultiplexedConnection,
    base: &str,
    phone: &loyalty_gateway::domain::PhoneNumber,
) {
    let pattern = format!("{base}m:{}*", phone.as_str());
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(conn)
        .await
        .unwrap();
    println!();
    println!("one member's keys, as stored:");
    for key in keys
        .iter()
        .chain(std::iter::once(&format!("{base}receipts")))
    {
        let size: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(conn)
            .await
            .unwrap();
        let kind: String = redis::cmd("TYPE").arg(key).query_async(conn).await.unwrap();
        let encoding: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(key)
            .query_async(conn)
            .await
            .unwrap_or_default();
        let value: redis::Value = match kind.as_str() {
            "hash" => redis::cmd("HGETALL")
                .arg(key)
                .query_async(conn)
                .await
                .unwrap(),
            "list" => redis::cmd("LRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .query_async(conn)
                .await
                .unwrap(),
            "set" => redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(conn)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(conn)
                .await
                .unwrap(),
            _ => redis::cmd("GET")
                .arg(key)
                .query_async(conn)
                .await
                .unwrap_or(redis::Value::Nil),
        };
        println!(
            "  {} ({kind}, {encoding}, {} B): {value:?}",
            key.strip_prefix(base).unwrap_or(key),
            size.unwrap_or(0)
        );
    }
}

/// Redis bytes per member, with the workload of the issue that set the targets: members who
/// joined by text (JOIN) and made five purchases each, every text sent and delivered.
async fn memory_phase(redis_url: &str, provider_url: &str, arrivals: Arc<Mutex<Vec<Instant>>>) {
    use loyalty_gateway::domain::{Amount, LocationId, PhoneNumber, Receipt};
    let prefix = "bench-mem";
    let app = Application::build(settings(redis_url, prefix, provider_url, 1_000_000.0))
        .await
        .unwrap()
        .without_workers();
    let state = app.state();
    let program = state.programs.iter().next().unwrap().clone();
    let sender = loyalty_gateway::startup::sender(&state).unwrap();
    let phone = |i: usize| PhoneNumber::parse_e164(&format!("+1415558{i:04}")).unwrap();
    for i in 0..MEMORY_MEMBERS {
        let inbound = loyalty_gateway::commands::Inbound {
            from: phone(i),
            text: "JOIN".into(),
            provider_id: format!("SMin{i:030x}"),
        };
        state.inbound.handle(&program, &inbound).await.unwrap();
    }
    for purchase in 0..MEMORY_PURCHASES {
        for i in 0..MEMORY_MEMBERS {
            let cmd = loyalty_gateway::ledger::EarnCommand {
                phone: phone(i),
                amount: Amount::parse(1250).unwrap(),
                location: LocationId::parse("store-1").unwrap(),
                receipt: Receipt::parse(&format!("R-{i}-{purchase}")).unwrap(),
                tender: None,
                first_name: None,
            };
            state.ledger.earn(&program, &cmd).await.unwrap();
        }
    }
    loyalty_gateway::outbound::drain(&state.store, &state.outbox, &sender, &program)
        .await
        .unwrap();
    let texts = arrivals.lock().unwrap().len();
    for n in 1..=texts {
        state
            .outbox
            .record_status(
                &program,
                &sid(n),
                loyalty_gateway::store::scripts::outbox::MessageStatus::Delivered,
                None,
            )
            .await
            .unwrap();
    }

    let mut conn = redis::Client::open(redis_url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let base = format!("{prefix}:{{{}}}:", program.id.as_str());
    let mut classes: std::collections::BTreeMap<&'static str, KeyClass> = Default::default();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        // SCAN may answer a page with no keys (and an empty pipeline is an error).
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .arg("SAMPLES")
                .arg(0);
        }
        let sizes: Vec<Option<u64>> = if keys.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut conn).await.unwrap()
        };
        for (key, size) in keys.iter().zip(sizes) {
            let class = key.strip_prefix(&base).map_or("program-wide", key_class);
            let entry = classes.entry(class).or_default();
            entry.keys += 1;
            entry.bytes += size.unwrap_or(0);
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    print_sample_member(&mut conn, &base, &phone(0)).await;
    let members = MEMORY_MEMBERS as f64;
    let receipts = (MEMORY_MEMBERS * MEMORY_PURCHASES) as f64;
    println!();
    println!(
        "Redis memory: {MEMORY_MEMBERS} members joined by text, {MEMORY_PURCHASES} purchases each, {texts} texts sent and delivered (MEMORY USAGE of every key)"
    );
    println!(
        "{:<24} {:>8} {:>12} {:>14}",
        "keys", "count", "bytes", "per member"
    );
    let mut total = 0;
    for (name, class) in &classes {
        total += class.bytes;
        println!(
            "{:<24} {:>8} {:>12} {:>14.0}",
            name,
            class.keys,
            class.bytes,
            class.bytes as f64 / members
        );
    }
    let bytes = |names: &[&str]| -> f64 {
        names
            .iter()
            .map(|n| classes.get(n).map_or(0, |c| c.bytes))
            .sum::<u64>() as f64
    };
    let durable = bytes(&[
        "member record",
        "member history",
        "member consent",
        "member locations",
        "member codes",
    ]) / members;
    let receipt = bytes(&["earn receipt"]) / receipts;
    let text = bytes(&["message record", "provider id"]) / texts as f64;
    println!(
        "durable part of a member   {durable:>6.0} B  (record, history, consent, locations, codes; target <= 600)"
    );
    println!("a retained receipt         {receipt:>6.0} B  (target <= 120)");
    println!(
        "a delivered text's record  {text:>6.0} B  (its record and provider-id lookup, if any; target <= 150)"
    );
    println!(
        "everything, per member     {:>6.0} B",
        total as f64 / members
    );
    record(
        "Redis bytes, durable part of a member",
        durable,
        "B",
        Some(("target", 600.0)),
    );
    record(
        "Redis bytes, a retained receipt",
        receipt,
        "B",
        Some(("target", 120.0)),
    );
    record(
        "Redis bytes, a delivered text's record",
        text,
        "B",
        Some(("target", 150.0)),
    );
    record(
        "Redis bytes, everything per member",
        total as f64 / members,
        "B",
        None,
    );
}

/// Earns per phase of the instruction count: returning members, then the measured ones.
const COUNTED_INSTRUCTION_EARNS: usize = 2_048;

/// The instructions redis-server executes per earn script call, counted by valgrind's
/// callgrind around a fixed set of earns: a count, not a timing, so it is the same from run to
/// run and machine to machine (within a Redis build) however busy the machine is, where the
/// Redis time per call above drifts with it. 2,000 members earn twice, then the counted earns
/// (a third and fourth purchase each) run with the count on. Skipped without valgrind.
async fn instructions_phase(provider_url: &str) {
    let has = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("valgrind") || !has("callgrind_control") {
        println!("instructions per earn: skipped (no valgrind)");
        return;
    }
    // `BENCH_CALLGRIND_DIR=<dir>` keeps the dumps there, for callgrind_annotate (with a
    // redis-server built with symbols first on the PATH).
    let temporary = tempfile::tempdir().unwrap();
    let kept = std::env::var_os("BENCH_CALLGRIND_DIR").map(std::path::PathBuf::from);
    if let Some(kept) = &kept {
        std::fs::create_dir_all(kept).unwrap();
    }
    let dir = kept.as_deref().unwrap_or(temporary.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = std::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--instr-atstart=no")
        .arg(format!(
            "--callgrind-out-file={}/callgrind.%p",
            dir.display()
        ))
        .args([
            "redis-server",
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("valgrind starts redis-server");
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = loop {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            if redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .is_ok()
            {
                break conn;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut settings = settings(&url, "bench-count", provider_url, 1000.0);
    // Redis runs some fifty times slower under valgrind, and loads the library first.
    settings.redis.timeout_ms = 120_000;
    let state = Application::build(settings).await.unwrap().state();
    let program = state.programs.iter().next().unwrap().clone();
    let earns = |round: usize| {
        let (ledger, program) = (state.ledger.clone(), program.clone());
        load_count(COUNTED_INSTRUCTION_EARNS / CONCURRENCY, move |worker, i| {
            let (ledger, program) = (ledger.clone(), program.clone());
            async move {
                let n = worker * (COUNTED_INSTRUCTION_EARNS / CONCURRENCY) + i;
                let cmd = loyalty_gateway::ledger::EarnCommand {
                    phone: loyalty_gateway::domain::PhoneNumber::parse_e164(&format!(
                        "+1415558{:04}",
                        n % 1000
                    ))
                    .unwrap(),
                    amount: loyalty_gateway::domain::Amount::parse(1250).unwrap(),
                    location: loyalty_gateway::domain::LocationId::parse("store-1").unwrap(),
                    receipt: loyalty_gateway::domain::Receipt::parse(&format!("I-{round}-{n}"))
                        .unwrap(),
                    tender: None,
                    first_name: None,
                };
                ledger.earn(&program, &cmd).await.is_ok()
            }
        })
    };
    let warm = earns(0).await;
    let control = |switch: &str| {
        std::process::Command::new("callgrind_control")
            .args(["-i", switch, &redis.id().to_string()])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(control("on"), "callgrind_control reaches redis-server");
    let counted = earns(1).await;
    assert!(control("off"));
    let _: Result<(), _> = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async(&mut conn)
        .await;
    redis.wait().unwrap();
    // Every dump's total: what ran while the count was on.
    let instructions: u64 = std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|f| {
            std::fs::read_to_string(f.unwrap().path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("totals: ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                })
                .collect::<Vec<_>>()
        })
        .sum();
    let per_earn = instructions as f64 / counted.count.max(1) as f64;
    println!(
        "Redis instructions per earn script call {per_earn:>9.0}  (callgrind, {} earns counted after {}, {} failed; a count, not a timing)",
        counted.count,
        warm.count,
        warm.errors + counted.errors
    );
    record(
        "Redis instructions per earn script call",
        per_earn,
        "instructions",
        None,
    );
}
