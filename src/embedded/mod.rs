//! A `redis-server` child process: the zero-setup default for `serve`, and the tests' Redis.
//!
//! When `redis.embedded = true` and nothing answers at `redis.url`, `serve` starts one on a free
//! port with append-only persistence in `redis.data_dir`, and stops it (SIGTERM, so the AOF is
//! flushed) when the gateway exits, after its workers have drained. On Linux the child also gets
//! SIGKILL if the *thread* that started it ends, so a crashed gateway or test never leaves a
//! server behind; start it from a thread that lives as long as the server should (the main
//! thread, never a tokio blocking-pool thread, which retires when idle).
//!
//! The child runs in a session of its own: a Ctrl-C in the terminal signals the terminal's
//! process group, which would otherwise kill Redis under a gateway that is still recording what
//! it sent (and the text would go out again after a restart).
//!
//! A data folder belongs to one `redis-server`: [`Embedded::start_or_join`] takes a lock on the
//! folder, and a second `serve` on the same folder uses the running server (its port is in the
//! folder) instead of starting another one on the same append-only files.

pub mod cluster;

use std::fs::{File, TryLockError};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub struct RedisServer {
    /// `None` once stopped, so the pid is never signalled after it was reaped.
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    appendonly: bool,
    /// The extra arguments it was started with, for [`RedisServer::restart`].
    extra: Vec<String>,
}

/// A port that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl RedisServer {
    /// Starts `redis-server` on a free port, storing data in `dir`, and waits until it answers.
    pub fn start(dir: &Path, appendonly: bool) -> anyhow::Result<Self> {
        Self::start_on(free_port()?, dir, appendonly)
    }

    pub fn start_on(port: u16, dir: &Path, appendonly: bool) -> anyhow::Result<Self> {
        Self::start_with(port, dir, appendonly, &[])
    }

    /// Starts with extra `redis-server` arguments (`--cluster-enabled yes`...).
    pub fn start_with(
        port: u16,
        dir: &Path,
        appendonly: bool,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create Redis data directory {}", dir.display()))?;
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(dir)
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg(if appendonly { "yes" } else { "no" })
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: setsid and prctl are async-signal-safe and touch no memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "redis-server is not installed. Install it (Debian/Ubuntu: `apt-get install \
                 redis-server`, macOS: `brew install redis`) or point the gateway at a running \
                 Redis with LOYALTY__REDIS__URL=redis://HOST:6379/0"
            ),
            Err(e) => return Err(e).context("cannot start redis-server"),
        };
        let mut server = Self {
            child: Some(child),
            port,
            dir: dir.to_owned(),
            appendonly,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url())?;
        let mut delay = Duration::from_millis(5);
        loop {
            if let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) {
                // A server still loading its data answers LOADING: it is up, and the gateway
                // treats it as briefly unavailable.
                match redis::cmd("PING").query::<String>(&mut conn) {
                    Ok(_) => return Ok(()),
                    Err(e)
                        if e.kind()
                            == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading) =>
                    {
                        return Ok(())
                    }
                    Err(_) => {}
                }
            }
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait()?,
                None => bail!("redis-server was stopped"),
            };
            if let Some(status) = exited {
                bail!(
                    "redis-server exited at start-up ({status}); is port {} taken?",
                    self.port
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "redis-server did not answer on port {} within 10 s",
                    self.port
                );
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until the server has loaded its data (PING answers PONG, not LOADING).
    pub fn wait_until_loaded(&self) -> anyhow::Result<()> {
        let client = redis::Client::open(self.url())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pong = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .ok()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).ok());
            if pong.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("redis-server on port {} did not finish loading", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Not stopped or killed.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server (SIGTERM, then waits), as an outage would.
    pub fn stop(&mut self) {
        self.signal(libc::SIGTERM);
    }

    /// Kills the server outright (SIGKILL), as a crash or a power cut would: nothing is flushed.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
    }

    /// Freezes the server (SIGSTOP): it holds its connections but answers nothing, as a
    /// stalled host or a long fork would. [`RedisServer::thaw`] lets it go on.
    pub fn freeze(&self) {
        self.send(libc::SIGSTOP);
    }

    /// Lets a frozen server go on (SIGCONT): it runs what it received meanwhile.
    pub fn thaw(&self) {
        self.send(libc::SIGCONT);
    }

    fn send(&self, signal: libc::c_int) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on our own child, which has not been reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, signal);
            }
        }
    }

    fn signal(&mut self, signal: libc::c_int) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child, which has not been reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, signal);
            }
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same data and arguments.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let extra = self.extra.clone();
        self.restart_with(&extra.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Starts it again on the same port with the same data and extra arguments.
    pub fn restart_with(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        self.stop();
        let mut again = Self::start_with(self.port, &self.dir, self.appendonly, extra)?;
        self.child = again.child.take();
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The embedded Redis of a data folder.
pub enum Embedded {
    /// Started by this process, which stops it when dropped. The lock on the folder is held as
    /// long as this lives.
    Started { server: RedisServer, _lock: File },
    /// Started by another `serve` on the same folder; this process only uses it.
    Joined { url: String },
}

const LOCK_FILE: &str = "gateway.lock";
const PORT_FILE: &str = "redis.port";
/// How long a second `serve` waits for the first to have its Redis answering.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);

impl Embedded {
    /// Starts a `redis-server` on `dir`, or joins the one another `serve` runs there.
    pub fn start_or_join(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create Redis data directory {}", dir.display()))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .with_context(|| format!("cannot open {}", dir.join(LOCK_FILE).display()))?;
        match lock.try_lock() {
            Ok(()) => {
                let port_file = dir.join(PORT_FILE);
                let _ = std::fs::remove_file(&port_file);
                let server = RedisServer::start(dir, true)?;
                let written = dir.join(format!("{PORT_FILE}.new"));
                std::fs::write(&written, server.port().to_string())
                    .and_then(|()| std::fs::rename(&written, &port_file))
                    .with_context(|| format!("cannot write {}", port_file.display()))?;
                Ok(Self::Started {
                    server,
                    _lock: lock,
                })
            }
            Err(TryLockError::WouldBlock) => Self::join(dir),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", dir.display()))
            }
        }
    }

    /// The URL of the `redis-server` a `serve` runs on `dir`, if one is answering there.
    pub fn running(dir: &Path) -> Option<String> {
        let port = std::fs::read_to_string(dir.join(PORT_FILE)).ok()?;
        let url = format!("redis://127.0.0.1:{}/0", port.trim());
        let client = redis::Client::open(url.as_str()).ok()?;
        let answers = client
            .get_connection_with_timeout(Duration::from_millis(200))
            .is_ok_and(|mut c| redis::cmd("PING").query::<String>(&mut c).is_ok());
        answers.then_some(url)
    }

    fn join(dir: &Path) -> anyhow::Result<Self> {
        let deadline = Instant::now() + JOIN_TIMEOUT;
        loop {
            if let Ok(port) = std::fs::read_to_string(dir.join(PORT_FILE)) {
                let url = format!("redis://127.0.0.1:{}/0", port.trim());
                if let Ok(client) = redis::Client::open(url.as_str()) {
                    let answers = client
                        .get_connection_with_timeout(Duration::from_millis(200))
                        .is_ok_and(|mut c| redis::cmd("PING").query::<String>(&mut c).is_ok());
                    if answers {
                        return Ok(Self::Joined { url });
                    }
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "another serve holds the Redis data folder {} but its redis-server does not \
                     answer; stop that serve, or give this one its own redis.data_dir",
                    dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Started { server, .. } => server.url(),
            Self::Joined { url } => url.clone(),
        }
    }

    pub fn started_here(&self) -> bool {
        matches!(self, Self::Started { .. })
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Self::Started { server, .. } = self {
            let _ = std::fs::remove_file(server.dir.join(PORT_FILE));
            server.stop();
        }
    }
}

/// True when a Redis answers at `url` within `timeout`.
pub async fn answers(url: &str, timeout: Duration) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let attempt = async {
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(_)))
}
