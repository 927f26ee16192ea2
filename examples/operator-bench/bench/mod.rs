//! The operator benchmark: measurements of the speed and memory targets of performance anchors
//! §10, against the real `secret-rotator run` process talking to the sandbox API server and the
//! Entra emulator over loopback.
//!
//! One module per measurement, over a shared harness:
//! * [`harness`] (the world), [`process`] (the operator process and its `/proc` figures),
//!   [`proxy`] (what the operator sends and receives), [`tracker`] (the change feed),
//!   [`stats`] (arithmetic);
//! * [`burst`] (1: create → Ready), [`idle`] (2: steady-state cost), [`memory`] and
//!   [`flatness`] (3), [`cold_start`] (4), [`backlog`] (5: against the Graph write budget),
//!   [`writes`] (6: API writes per rotation, rollout discipline, jitter);
//! * [`report`]: the target-vs-measured table and the JSON.
//!
//! The order of a run: the burst (N₁ new rotations), the backlog (the same N₁ rotations asked to
//! rotate at once), then for each N (N₁, then larger ones reached by adoption): restart (cold
//! start) and an idle window (idle cost, memory); finally flatness at the largest N.
//!
//! Invariant: the benchmark prints figures and asserts nothing about them; a missed target is a
//! `OVER` row, never an error. Errors are for a broken run (the operator died, a server failed).

pub mod backlog;
pub mod burst;
pub mod cold_start;
pub mod flatness;
pub mod harness;
pub mod idle;
pub mod memory;
pub mod process;
pub mod proxy;
pub mod report;
pub mod stats;
pub mod steps;
pub mod tracker;
pub mod writes;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use self::flatness::Ballast;
use self::harness::World;
use self::memory::{MemoryPoint, MemoryReport};
use self::report::{LogCounts, Machine, Report, SizeReport, WireTotals};

/// How to run the benchmark.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `secret-rotator` binary to run.
    pub operator_binary: PathBuf,
    /// Rotations created in the burst (N₁).
    pub burst: usize,
    /// Rotations in the backlog (at most `burst`: the burst's rotations are reused).
    pub backlog: usize,
    /// Every N measured (idle, memory, cold start), ascending; the first is `burst`.
    pub sizes: Vec<usize>,
    /// Idle window.
    pub idle: Duration,
    /// Unrelated objects for flatness.
    pub ballast: Ballast,
    /// Pin the operator to CPU 0 and the benchmark to CPU 1.
    pub pin: bool,
    /// Progress lines on standard error.
    pub progress: bool,
}

/// What the command line asks for.
#[derive(Clone, Debug)]
pub enum Command {
    /// A benchmark run.
    Run(Options),
    /// The usage text.
    Help,
}

/// The usage text (`--help`).
pub const USAGE: &str = "\
operator-bench: speed and memory figures of the secret-rotator operator (performance anchors §10),
printed beside their targets. Asserts nothing. See docs/benchmarks.md.

  cargo build --release --bin secret-rotator
  cargo run --release --example operator-bench [-- OPTIONS]

A --quick run takes about 2¼ minutes on a loaded 2-core machine; the default run about 13 minutes.

Options:
  --operator-bin PATH          secret-rotator binary (default: target/<profile>/secret-rotator)
  --rotations N                rotations created at once, then asked to rotate at once
                               (sets --burst and --backlog; default 200). NB: past the
                               operator's cap of 20 rotations in flight, each 20 more add about
                               30 s per phase (its capacity re-check), so 1000 takes ~50 min
  --burst N                    rotations created at once (default 200)
  --backlog N                  of those, rotations asked to rotate at once (default: --burst)
  --sizes N,N,...              rotation counts for idle/memory/cold start (default 200,1000,5000)
  --with-10k                   also measure 10,000 rotations (adds a few minutes)
  --idle-seconds S             idle window (default 30)
  --unrelated-secrets N        unrelated Secrets for flatness (default 20000)
  --unrelated-secret-bytes B   data per unrelated Secret (default 10240)
  --unrelated-deployments N    unrelated Deployments (default 1000)
  --quick                      rotations 40, sizes 40,500, idle 10 s, 2000 unrelated Secrets,
                               200 unrelated Deployments
  --no-pin                     do not pin the operator to CPU 0 and the benchmark to CPU 1
  -h, --help                   this text
";

impl Options {
    /// The defaults: what the documented figures were taken with.
    pub fn defaults(operator_binary: PathBuf) -> Self {
        Self {
            operator_binary,
            burst: 200,
            backlog: 200,
            sizes: vec![200, 1000, 5000],
            idle: Duration::from_secs(30),
            ballast: Ballast {
                secrets: 20_000,
                secret_bytes: 10 * 1024,
                deployments: 1000,
            },
            pin: true,
            progress: true,
        }
    }

    /// Parses the command line (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Command> {
        let mut binary = None;
        let mut o = Self::defaults(PathBuf::new());
        let mut backlog = None;
        let mut sizes_given = false;
        let mut ten_k = false;
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
            let number = |name: &str, v: String| -> anyhow::Result<usize> {
                v.replace('_', "")
                    .parse()
                    .with_context(|| format!("{name} needs a whole number, not {v:?}"))
            };
            match a.as_str() {
                "--operator-bin" => binary = Some(PathBuf::from(value("--operator-bin")?)),
                "--rotations" => {
                    o.burst = number("--rotations", value("--rotations")?)?;
                    backlog = Some(o.burst);
                }
                "--burst" => o.burst = number("--burst", value("--burst")?)?,
                "--backlog" => backlog = Some(number("--backlog", value("--backlog")?)?),
                "--sizes" => {
                    sizes_given = true;
                    o.sizes = value("--sizes")?
                        .split(',')
                        .map(|s| number("--sizes", s.trim().to_owned()))
                        .collect::<anyhow::Result<_>>()?
                }
                "--with-10k" => ten_k = true,
                "--idle-seconds" => {
                    o.idle = Duration::from_secs(number("--idle-seconds", value("--idle-seconds")?)? as u64)
                }
                "--unrelated-secrets" => {
                    o.ballast.secrets = number("--unrelated-secrets", value("--unrelated-secrets")?)?
                }
                "--unrelated-secret-bytes" => {
                    o.ballast.secret_bytes =
                        number("--unrelated-secret-bytes", value("--unrelated-secret-bytes")?)?
                }
                "--unrelated-deployments" => {
                    o.ballast.deployments =
                        number("--unrelated-deployments", value("--unrelated-deployments")?)?
                }
                "--quick" => {
                    o.burst = 40;
                    o.sizes = vec![40, 500];
                    o.idle = Duration::from_secs(10);
                    o.ballast.secrets = 2000;
                    o.ballast.deployments = 200;
                }
                "--no-pin" => o.pin = false,
                "-h" | "--help" => return Ok(Command::Help),
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        if ten_k && !o.sizes.contains(&10_000) {
            o.sizes.push(10_000);
        }
        if !sizes_given {
            // The default sizes follow --burst/--rotations: the larger ones stay.
            o.sizes.retain(|s| *s > o.burst);
        }
        o.backlog = backlog.unwrap_or(o.burst);
        o.operator_binary = match binary {
            Some(b) => b,
            None => process::default_operator_binary().with_context(|| {
                "no secret-rotator binary next to this executable: build it first with \
                 `cargo build --release --bin secret-rotator` (or pass --operator-bin PATH)"
                    .to_owned()
            })?,
        };
        o.validate()?;
        Ok(Command::Run(o))
    }

    /// Checks the options make a run.
    pub fn validate(&mut self) -> anyhow::Result<()> {
        if self.burst == 0 {
            bail!("--burst must be at least 1");
        }
        if self.backlog > self.burst {
            bail!(
                "--backlog ({}) cannot exceed --burst ({}): the backlog reuses the burst's rotations",
                self.backlog,
                self.burst
            );
        }
        self.sizes.sort_unstable();
        self.sizes.dedup();
        if self.sizes.first().is_some_and(|s| *s < self.burst) {
            bail!("--sizes must all be at least --burst ({})", self.burst);
        }
        if self.sizes.first() != Some(&self.burst) {
            self.sizes.insert(0, self.burst);
        }
        if !self.operator_binary.is_file() {
            bail!(
                "the operator binary {} is not a file (build it with \
                 `cargo build --release --bin secret-rotator`, or pass --operator-bin PATH)",
                self.operator_binary.display()
            );
        }
        Ok(())
    }
}

macro_rules! progress {
    ($opts:expr, $t0:expr, $($arg:tt)*) => {
        if $opts.progress {
            eprintln!("[{:>6.1} s] {}", $t0.elapsed().as_secs_f64(), format!($($arg)*));
        }
    };
}

/// Runs every measurement and returns the report (its table already judged).
pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let mut report = Report {
        date: jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC").to_string(),
        machine: Machine::detect(opts.pin),
        options: json!({
            "operatorBinary": opts.operator_binary.display().to_string(),
            "burst": opts.burst,
            "backlog": opts.backlog,
            "sizes": opts.sizes,
            "idleSeconds": opts.idle.as_secs(),
            "unrelatedSecrets": opts.ballast.secrets,
            "unrelatedSecretBytes": opts.ballast.secret_bytes,
            "unrelatedDeployments": opts.ballast.deployments,
        }),
        ..Report::default()
    };
    let mut world = World::build(opts.operator_binary.clone(), opts.pin).await?;
    progress!(opts, t0, "starting {}", opts.operator_binary.display());
    world.start_operator().await?;
    world
        .wait_quiet(Duration::from_secs(3), Duration::from_secs(30))
        .await;
    let baseline = world.operator()?.memory()?;
    let mut memory = MemoryReport {
        baseline: MemoryPoint {
            rotations: 0,
            rss_kib: baseline.rss_kib,
            hwm_kib: baseline.hwm_kib,
        },
        ..MemoryReport::default()
    };

    progress!(opts, t0, "burst: creating {} rotations at once", opts.burst);
    report.burst = burst::run(&mut world, opts.burst).await?;
    progress!(
        opts,
        t0,
        "burst: {}/{} Ready in {:.1} s (p50 {:.0} ms, p99 {:.0} ms)",
        report.burst.ready,
        report.burst.rotations,
        report.burst.makespan_s,
        report.burst.latency.p50_ms,
        report.burst.latency.p99_ms
    );
    let after_burst = world.operator()?.memory()?;
    memory.after_burst = MemoryPoint {
        rotations: opts.burst,
        rss_kib: after_burst.rss_kib,
        hwm_kib: after_burst.hwm_kib,
    };

    if opts.backlog > 0 {
        progress!(opts, t0, "backlog: {} rotations due at once", opts.backlog);
        report.backlog = backlog::run(&mut world, opts.backlog).await?;
        progress!(
            opts,
            t0,
            "backlog: {}/{} done in {:.1} s, {} 429s",
            report.backlog.done,
            report.backlog.rotations,
            report.backlog.makespan_s,
            report.backlog.graph.throttled_429
        );
    }

    let mut current = opts.burst;
    for &size in &opts.sizes {
        let mut growth = None;
        if size > current {
            progress!(opts, t0, "growing to {size} rotations by adoption");
            let g = memory::grow(&mut world, current, size).await?;
            progress!(opts, t0, "  {} adopted in {:.1} s", g.ready, g.seconds);
            growth = Some(g);
            current = size;
        }
        progress!(opts, t0, "cold start with {size} rotations");
        let cold_start = cold_start::run(&mut world, size).await?;
        progress!(
            opts,
            t0,
            "  all confirmed {:.2} s after start; idle window of {} s",
            cold_start.to_all_confirmed_s,
            opts.idle.as_secs()
        );
        let idle = idle::run(&mut world, size, opts.idle).await?;
        memory.points.push(MemoryPoint {
            rotations: size,
            rss_kib: idle.rss_kib,
            hwm_kib: idle.hwm_kib,
        });
        report.sizes.push(SizeReport {
            rotations: size,
            growth,
            cold_start,
            idle,
        });
    }
    memory.finish();
    report.memory = memory;

    progress!(
        opts,
        t0,
        "flatness: {} unrelated Secrets, {} unrelated Deployments",
        opts.ballast.secrets,
        opts.ballast.deployments
    );
    let without = report
        .sizes
        .last()
        .map(|s| s.cold_start.clone())
        .unwrap_or_default();
    report.flatness = flatness::run(&mut world, current, opts.ballast, &without).await?;

    world.operator()?;
    let (warnings, errors, samples) = world.log_totals();
    report.operator_log = LogCounts {
        warnings,
        errors,
        samples,
    };
    let stats = &world.proxy.stats;
    report.wire = WireTotals {
        requests: stats.request_count(),
        bytes_sent: stats.bytes_up(),
        bytes_received: stats.bytes_down(),
        unparsed_connections: stats.unparsed_connections(),
    };
    world.shutdown().await;
    report.duration_s = stats::round(t0.elapsed().as_secs_f64(), 1);
    report.judge();
    progress!(opts, t0, "done");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Command> {
        // Any existing file stands in for the operator binary.
        let exe = std::env::current_exe()?.display().to_string();
        let mut all = vec!["--operator-bin".to_owned(), exe];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        Options::parse(all)
    }

    fn run_options(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Command::Run(o)) => o,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn help_is_a_command_not_an_error() {
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
        assert!(matches!(Options::parse(["-h".to_owned()]), Ok(Command::Help)));
    }

    #[test]
    fn rotations_sets_burst_and_backlog_and_keeps_the_larger_default_sizes() {
        let o = run_options(&["--rotations", "1_000"]);
        assert_eq!((o.burst, o.backlog), (1000, 1000));
        assert_eq!(o.sizes, [1000, 5000]);
    }

    #[test]
    fn quick_is_small() {
        let o = run_options(&["--quick"]);
        assert_eq!((o.burst, o.backlog, o.sizes.clone()), (40, 40, vec![40, 500]));
        assert_eq!(o.idle, Duration::from_secs(10));
    }

    #[test]
    fn bad_arguments_are_clear_errors() {
        let message = |args: &[&str]| format!("{:#}", parse(args).expect_err("an error"));
        assert!(message(&["--burst", "ten"]).contains("--burst needs a whole number"));
        assert!(message(&["--burst"]).contains("--burst needs a value"));
        assert!(message(&["--frobnicate"]).contains("unknown argument \"--frobnicate\""));
        assert!(message(&["--burst", "10", "--backlog", "11"]).contains("cannot exceed --burst"));
        assert!(message(&["--burst", "0"]).contains("at least 1"));
        assert!(message(&["--burst", "100", "--sizes", "50"]).contains("at least --burst"));
        let missing = Options::parse([
            "--operator-bin".to_owned(),
            "/nonexistent/secret-rotator".to_owned(),
        ]);
        assert!(format!("{:#}", missing.expect_err("an error")).contains("is not a file"));
    }
}
