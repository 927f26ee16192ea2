//! The operator as a separate process: the real `secret-rotator run` binary, optionally pinned to
//! CPU 0 with `taskset`, with its memory (`VmRSS`, `VmHWM` from `/proc/<pid>/status`), CPU time
//! (`utime + stime` from `/proc/<pid>/stat`) and readiness (`/readyz`: standby, leading while
//! caches sync, leading with synced caches) read from outside.
//!
//! Invariant: the figures are the operator's own: nothing of the API server, the emulator or the
//! benchmark runs in that process.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The operator binary next to the running executable (`target/<profile>/secret-rotator` for
/// `target/<profile>/examples/operator-bench`), if it exists.
pub fn default_operator_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join("secret-rotator");
    bin.is_file().then_some(bin)
}

/// What `/readyz` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Not answering, or starting.
    Starting,
    /// Another replica holds the lease.
    Standby,
    /// Leading, caches not synced yet.
    Syncing,
    /// Leading with synced caches.
    Leading,
}

/// Memory of a process, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now.
    pub rss_kib: u64,
    /// Peak resident set size.
    pub hwm_kib: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// A running operator process.
pub struct OperatorProcess {
    child: Child,
    pid: u32,
    health: SocketAddr,
    /// When it was spawned.
    pub started: Instant,
    ticks: u64,
    log: Arc<Mutex<LogTail>>,
    http: reqwest::Client,
}

/// The last lines the operator wrote, and how many were warnings or errors.
#[derive(Default, Debug)]
pub struct LogTail {
    /// Last lines.
    pub lines: VecDeque<String>,
    /// Lines at WARN level.
    pub warnings: u64,
    /// Lines at ERROR level.
    pub errors: u64,
    /// The first warning and error lines.
    pub samples: Vec<String>,
}

/// How to start the operator.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The `secret-rotator` binary.
    pub binary: PathBuf,
    /// Kubeconfig pointing at the proxy.
    pub kubeconfig: PathBuf,
    /// Lease identity (the same identity after a restart is a restarted container in the same
    /// pod: it takes its lease back at once).
    pub identity: String,
    /// Pin to CPU 0 with `taskset`.
    pub pin: bool,
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

impl OperatorProcess {
    /// Starts `secret-rotator run` (leader election on, Lease in `secret-rotator`).
    pub fn spawn(launch: &Launch) -> anyhow::Result<Self> {
        let health = free_port()?;
        let mut cmd = if launch.pin {
            let mut c = Command::new("taskset");
            c.arg("-c").arg("0").arg(&launch.binary);
            c
        } else {
            Command::new(&launch.binary)
        };
        cmd.arg("run")
            .arg("--kubeconfig")
            .arg(&launch.kubeconfig)
            .arg("--operator-namespace")
            .arg("secret-rotator")
            .arg("--health-address")
            .arg(health.to_string())
            .arg("--identity")
            .arg(&launch.identity)
            .arg("--log-format")
            .arg("json")
            .arg("--log-level")
            .arg("info")
            .env_remove("RUST_LOG")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", launch.binary.display()))?;
        let pid = child.id().context("the operator exited at once")?;
        let log = Arc::new(Mutex::new(LogTail::default()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                    let warning = line.contains("\"level\":\"WARN\"");
                    let error = line.contains("\"level\":\"ERROR\"");
                    l.warnings += u64::from(warning);
                    l.errors += u64::from(error);
                    if (warning || error) && l.samples.len() < 10 {
                        l.samples.push(line.clone());
                    }
                    if l.lines.len() >= 40 {
                        l.lines.pop_front();
                    }
                    l.lines.push_back(line);
                }
            });
        }
        Ok(Self {
            child,
            pid,
            health,
            started: Instant::now(),
            ticks: clock_ticks(),
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .context("building an HTTP client")?,
        })
    }

    /// Warnings and errors logged so far, and the last lines.
    pub fn log_summary(&self) -> (u64, u64, Vec<String>) {
        let l = self.log.lock().unwrap_or_else(|e| e.into_inner());
        (l.warnings, l.errors, l.lines.iter().cloned().collect())
    }

    /// The first warning and error lines.
    pub fn log_samples(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).samples.clone()
    }

    /// `VmRSS` and `VmHWM`.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        read_memory(&Path::new("/proc").join(self.pid.to_string()).join("status"))
    }

    /// CPU time used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .with_context(|| format!("reading /proc/{}/stat", self.pid))?;
        // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
        let after = stat.rsplit_once(')').map(|(_, a)| a).context("malformed stat")?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 overall are utime and stime: indexes 11 and 12 after the name.
        let utime: u64 = fields.get(11).context("no utime")?.parse()?;
        let stime: u64 = fields.get(12).context("no stime")?.parse()?;
        Ok((utime + stime) as f64 / self.ticks as f64)
    }

    /// What `/readyz` says now.
    pub async fn readiness(&self) -> Readiness {
        let url = format!("http://{}/readyz", self.health);
        let Ok(response) = self.http.get(&url).send().await else {
            return Readiness::Starting;
        };
        let body = response.text().await.unwrap_or_default();
        if body.contains("standby") {
            Readiness::Standby
        } else if body.contains("caches synced") {
            Readiness::Leading
        } else if body.contains("syncing") {
            Readiness::Syncing
        } else {
            Readiness::Starting
        }
    }

    /// Polls `/readyz` until it reports leading with synced caches; returns when the process was
    /// first seen leading (syncing or synced) and when synced. Fails if the process exits.
    pub async fn wait_leading(&mut self, limit: Duration) -> anyhow::Result<(Instant, Instant)> {
        let deadline = Instant::now() + limit;
        let mut leader = None;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let (_, _, lines) = self.log_summary();
                bail!(
                    "the operator exited ({status}); last lines:\n{}",
                    lines.join("\n")
                );
            }
            let r = self.readiness().await;
            let now = Instant::now();
            if matches!(r, Readiness::Syncing | Readiness::Leading) && leader.is_none() {
                leader = Some(now);
            }
            if r == Readiness::Leading {
                return Ok((leader.unwrap_or(now), now));
            }
            if now > deadline {
                bail!("the operator did not lead with synced caches within {limit:?} (last: {r:?})");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `kill -9`, and waits for the process to be gone.
    pub async fn kill9(mut self) -> anyhow::Result<()> {
        self.child.start_kill().context("SIGKILL")?;
        self.child
            .wait()
            .await
            .context("waiting for the killed operator")?;
        Ok(())
    }
}

/// Parses `VmRSS` and `VmHWM` (KiB) from a `/proc/<pid>/status` file.
pub fn read_memory(path: &Path) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in {}", path.display()))?;
        let kib = line[name.len()..].trim().trim_end_matches("kB").trim();
        Ok(kib.parse()?)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Pins the calling process (every thread) to CPU 1, where the API server and the emulator run.
pub fn pin_self_to_cpu1() -> anyhow::Result<()> {
    let status = std::process::Command::new("taskset")
        .args(["-a", "-cp", "1", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .context("running taskset")?;
    if !status.success() {
        bail!("taskset failed: {status}");
    }
    Ok(())
}
