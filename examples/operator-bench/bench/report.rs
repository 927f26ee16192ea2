//! The run's report: every measurement's figures (serialised as JSON), the machine and date, and
//! the target-vs-measured table built from them (performance anchors §10, numbering kept).
//!
//! Invariant: a verdict is computed from the figures, never asserted: `met` and `missed` (printed
//! `pass` and `OVER`) are comparisons with the stated target; `info` rows have no target. A target that scales with N
//! (the backlog's makespan, its CPU) is scaled and says so.

use serde::Serialize;

use super::backlog::BacklogReport;
use super::burst::BurstReport;
use super::cold_start::ColdStartReport;
use super::flatness::FlatnessReport;
use super::idle::IdleReport;
use super::memory::{Growth, MemoryReport};
use super::steps::StepLatency;

/// One N: how it was reached, the restart at that N, and its idle window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SizeReport {
    /// Ready rotations.
    pub rotations: usize,
    /// Adoption step that reached this N (none for the burst's N).
    pub growth: Option<Growth>,
    /// Restart at this N.
    pub cold_start: ColdStartReport,
    /// Idle window after the restart.
    pub idle: IdleReport,
}

/// Where the run ran.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    /// CPUs available.
    pub cpus: usize,
    /// CPU model.
    pub cpu_model: String,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Load average when the run started.
    pub load_average_at_start: String,
    /// Operator on CPU 0, servers on CPU 1.
    pub pinned: bool,
}

impl Machine {
    /// Reads `/proc`.
    pub fn detect(pinned: bool) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            // NB: not `available_parallelism`: the benchmark may already be pinned to one CPU.
            cpus: cpuinfo.lines().filter(|l| l.starts_with("processor")).count(),
            cpu_model: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default(),
            memory_mib: meminfo
                .lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
                .map_or(0, |kib| kib / 1024),
            load_average_at_start: std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            pinned,
        }
    }
}

/// What the operator logged over the run (every process).
#[derive(Clone, Debug, Default, Serialize)]
pub struct LogCounts {
    /// WARN lines.
    pub warnings: u64,
    /// ERROR lines.
    pub errors: u64,
    /// The first of them.
    pub samples: Vec<String>,
}

/// What crossed the proxy between the operator and the API server over the whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WireTotals {
    /// Requests the operator sent.
    pub requests: usize,
    /// Bytes it sent.
    pub bytes_sent: u64,
    /// Bytes it received.
    pub bytes_received: u64,
    /// Connections whose requests the proxy could not follow (0: every request was counted).
    pub unparsed_connections: u64,
}

/// A verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Target met.
    Met,
    /// Target missed.
    Missed,
    /// No target: a figure for context.
    Info,
}

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Target number in performance anchors §10 (or measurement number).
    pub id: String,
    /// What.
    pub metric: String,
    /// The target.
    pub target: String,
    /// The figure.
    pub measured: String,
    /// Met, missed or info.
    pub verdict: Verdict,
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// When the run started (UTC).
    pub date: String,
    /// Where.
    pub machine: Machine,
    /// Run options.
    pub options: serde_json::Value,
    /// Wall time of the run, seconds.
    pub duration_s: f64,
    /// Measurement 1 (and 6 for a first rotation).
    pub burst: BurstReport,
    /// Measurement 5 (and 6 for a renewal).
    pub backlog: BacklogReport,
    /// Measurements 2 and 4 at each N.
    pub sizes: Vec<SizeReport>,
    /// Measurement 3.
    pub memory: MemoryReport,
    /// Measurement 3, flatness.
    pub flatness: FlatnessReport,
    /// Operator log.
    pub operator_log: LogCounts,
    /// What crossed the proxy.
    pub wire: WireTotals,
    /// Target vs measured.
    pub targets: Vec<Row>,
}

fn row(id: &str, metric: String, target: &str, measured: String, met: Option<bool>) -> Row {
    Row {
        id: id.to_owned(),
        metric,
        target: target.to_owned(),
        measured,
        verdict: match met {
            Some(true) => Verdict::Met,
            Some(false) => Verdict::Missed,
            None => Verdict::Info,
        },
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

impl Report {
    /// Builds the target table from the figures.
    pub fn judge(&mut self) {
        let mut rows = vec![];
        let b = &self.burst;
        let n = b.rotations;
        rows.push(row(
            "5",
            format!("create→Ready p50, burst of {n}"),
            "≤ 20 ms",
            format!("{:.0} ms", b.latency.p50_ms),
            Some(b.latency.p50_ms <= 20.0 && b.ready == n),
        ));
        rows.push(row(
            "5",
            format!("create→Ready p99, burst of {n}"),
            "≤ 100 ms",
            format!("{:.0} ms", b.latency.p99_ms),
            Some(b.latency.p99_ms <= 100.0 && b.ready == n),
        ));
        rows.push(row(
            "5",
            "create→Ready max / makespan / Ready".into(),
            "",
            format!(
                "{:.1} s / {:.1} s / {}/{n} ({:.1}/s)",
                b.latency.max_ms / 1000.0,
                b.makespan_s,
                b.ready,
                b.throughput_per_s
            ),
            None,
        ));
        for (what, caps) in [("burst", &b.caps), ("backlog", &self.backlog.caps)] {
            rows.push(row(
                "7",
                format!("caps held ({what}): rotations / rollouts in flight"),
                &format!("≤ {} / ≤ {}", caps.rotation_cap, caps.rollout_cap),
                format!(
                    "max {} / max {}",
                    caps.max_rotations_in_flight, caps.max_rollouts_in_flight
                ),
                Some(caps.held()),
            ));
        }
        for s in &self.sizes {
            let i = &s.idle;
            rows.push(row(
                "1",
                format!(
                    "idle {} Ready, {:.0} s: Graph+token calls",
                    i.rotations, i.window_s
                ),
                "0",
                i.graph_and_token_calls.to_string(),
                Some(i.graph_and_token_calls == 0),
            ));
            rows.push(row(
                "1",
                format!("idle {} Ready: non-watch API requests (Lease aside)", i.rotations),
                "0",
                format!(
                    "{} (+{} Lease, {} watch)",
                    i.non_watch_requests, i.lease_requests, i.watch_requests
                ),
                Some(i.non_watch_requests == 0),
            ));
            rows.push(row(
                "9",
                format!("idle {} Ready: operator CPU", i.rotations),
                "≤ 1 millicore",
                format!("{:.2} m", i.cpu_millicores),
                Some(i.cpu_millicores <= 1.0),
            ));
        }
        let m = &self.memory;
        rows.push(row(
            "2",
            "RSS, operator leading with 0 rotations".into(),
            "",
            mib(m.baseline.rss_kib),
            None,
        ));
        for p in &m.points {
            rows.push(row(
                "2",
                format!("RSS (peak) at {} rotations, fresh process", p.rotations),
                "",
                format!("{} ({})", mib(p.rss_kib), mib(p.hwm_kib)),
                None,
            ));
        }
        if let Some(rss) = m.rss_at_10k_kib {
            rows.push(row(
                "2",
                format!(
                    "RSS at 10,000 rotations{}",
                    if m.rss_at_10k_measured {
                        ""
                    } else {
                        " (extrapolated)"
                    }
                ),
                "≤ 64 MiB",
                mib(rss),
                Some(rss <= 64 * 1024),
            ));
        }
        if let Some(slope) = m.slope_kib_per_rotation {
            rows.push(row(
                "2",
                "marginal memory per rotation (least squares)".into(),
                "≤ 3 KiB",
                format!("{slope:.2} KiB"),
                Some(slope <= 3.0),
            ));
        }
        let f = &self.flatness;
        rows.push(row(
            "3",
            format!(
                "RSS with {} unrelated Secrets ({} KiB) / without",
                f.unrelated_secrets,
                f.unrelated_secret_bytes / 1024
            ),
            "≤ 1.02×",
            format!("{:.3}× (peak {:.3}×)", f.rss_ratio, f.hwm_ratio),
            Some(f.rss_ratio <= 1.02),
        ));
        rows.push(row(
            "3",
            "bytes received on restart, with / without".into(),
            "≤ 1.01×",
            format!("{:.3}×", f.bytes_ratio),
            Some(f.bytes_ratio <= 1.01),
        ));
        rows.push(row(
            "3",
            "unrelated Secrets delivered to the operator (live + restart)".into(),
            "0",
            format!(
                "{} + {}",
                f.unrelated_secrets_delivered_live, f.unrelated_secrets_delivered_on_restart
            ),
            Some(f.unrelated_secrets_delivered_live + f.unrelated_secrets_delivered_on_restart == 0),
        ));
        rows.push(row(
            "3",
            format!(
                "unrelated Deployments delivered ({} created)",
                f.unrelated_deployments
            ),
            "",
            f.unrelated_deployments_delivered.to_string(),
            None,
        ));
        for s in &self.sizes {
            let c = &s.cold_start;
            rows.push(row(
                "4",
                format!(
                    "cold start {}: start → leader / synced / all confirmed",
                    c.rotations
                ),
                "≤ 5 s (all confirmed)",
                format!(
                    "{:.2} / {:.2} / {:.2} s ({}/{})",
                    c.to_leader_s, c.to_synced_s, c.to_all_confirmed_s, c.confirmed, c.rotations
                ),
                Some(c.to_all_confirmed_s <= 5.0 && c.confirmed == c.rotations),
            ));
            rows.push(row(
                "4",
                format!("cold start {}: peak RSS / steady", c.rotations),
                "≤ 1.25×",
                format!(
                    "{:.2}× ({} / {})",
                    c.peak_over_steady,
                    mib(c.hwm_kib),
                    mib(c.rss_steady_kib)
                ),
                Some(c.peak_over_steady <= 1.25),
            ));
            rows.push(row(
                "4",
                format!(
                    "cold start {}: mints / Secret / workload / status writes",
                    c.rotations
                ),
                "0 / 0 / 0 / 0",
                format!(
                    "{} / {} / {} / {} ({} writes, {} Entra calls)",
                    c.mints,
                    c.secret_writes,
                    c.workload_writes.max(c.template_changes),
                    c.status_writes,
                    c.writes,
                    c.graph_and_token_calls
                ),
                Some(
                    c.mints == 0
                        && c.secret_writes == 0
                        && c.workload_writes == 0
                        && c.template_changes == 0
                        && c.status_writes == 0,
                ),
            ));
        }
        let k = &self.backlog;
        let budget_s = k.rotations as f64 * 0.125;
        rows.push(row(
            "6",
            format!("backlog of {} due at once: makespan", k.rotations),
            &format!("≤ {budget_s:.0} s"),
            format!(
                "{:.1} s ({}/{} done, {:.2}/s)",
                k.makespan_s, k.done, k.rotations, k.throughput_per_s
            ),
            Some(k.makespan_s <= budget_s && k.done == k.rotations),
        ));
        rows.push(row(
            "6",
            "backlog: 429s received".into(),
            "0",
            k.graph.throttled_429.to_string(),
            Some(k.graph.throttled_429 == 0),
        ));
        rows.push(row(
            "6",
            "backlog: most Graph writes in any 150 s".into(),
            "≤ 3000",
            format!("{} ({:.1} writes/s)", k.max_writes_per_150s, k.graph_writes_per_s),
            Some(k.max_writes_per_150s <= 3000),
        ));
        let cpu_budget = k.rotations as f64 / 100.0;
        rows.push(row(
            "9",
            "backlog: operator CPU".into(),
            &format!("≤ {cpu_budget:.1} CPU-s"),
            format!("{:.2} CPU-s", k.operator_cpu_s),
            Some(k.operator_cpu_s <= cpu_budget),
        ));
        for (what, w, r, peak) in [
            ("first rotation", &b.writes, &b.rollouts, b.peak_requests_per_s),
            ("renewal", &k.writes, &k.rollouts, k.peak_requests_per_s),
        ] {
            rows.push(row(
                "8",
                format!("API writes per rotation ({what})"),
                "≤ 6",
                format!("{:.2}", w.total),
                Some(w.total <= 6.0),
            ));
            rows.push(row(
                "8",
                format!("  of which not Events ({what})"),
                "",
                format!("{:.2}", w.without_events),
                None,
            ));
            rows.push(row(
                "8",
                format!("API reads per rotation ({what})"),
                "",
                format!("{:.2}", w.reads),
                None,
            ));
            rows.push(row(
                "8",
                format!("Deployment writes per rotation ({what})"),
                "≤ 1",
                format!("{:.2}", w.deployments()),
                Some(w.deployments() <= 1.0),
            ));
            rows.push(row(
                "8",
                format!("409 conflicts ({what})"),
                "0",
                w.conflicts.to_string(),
                Some(w.conflicts == 0),
            ));
            rows.push(row(
                "7",
                format!("pod-template patches per Deployment ({what})"),
                "exactly 1",
                format!(
                    "{} of {} once ({} never, {} more)",
                    r.exactly_once, r.deployments, r.never, r.more_than_once
                ),
                Some(r.exact()),
            ));
            rows.push(row(
                "8",
                format!("peak operator request rate ({what})"),
                "≤ 50/s",
                format!("{peak}/s"),
                Some(peak <= 50),
            ));
        }
        let j = &b.jitter;
        rows.push(row(
            "7",
            format!("renewal jitter spread ({} created together)", j.rotations),
            "≥ 50 % of window",
            format!("{:.1} %", j.spread_fraction * 100.0),
            Some(j.spread_fraction >= 0.5),
        ));
        rows.push(row(
            "7",
            "busiest 1 % slice of the renew window".into(),
            "≤ 3 %",
            format!("{:.1} %", j.busiest_percent_slice_share * 100.0),
            Some(j.busiest_percent_slice_share <= 0.03),
        ));
        self.targets = rows;
    }

    /// Rotation latency per step, for humans: the first rotations (burst) and the renewals
    /// (backlog) side by side, p50 / p99 / max in milliseconds.
    pub fn steps_table(&self) -> String {
        let mut names: Vec<&str> = vec![];
        for s in self.burst.steps.iter().chain(&self.backlog.steps) {
            if !names.contains(&s.step.as_str()) {
                names.push(&s.step);
            }
        }
        let cell = |steps: &[StepLatency], name: &str| {
            steps.iter().find(|s| s.step == name).map_or_else(
                || "-".to_owned(),
                |s| {
                    format!(
                        "{:.0} / {:.0} / {:.0} ms (n={})",
                        s.latency.p50_ms, s.latency.p99_ms, s.latency.max_ms, s.latency.count
                    )
                },
            )
        };
        let rows: Vec<[String; 3]> = names
            .iter()
            .map(|n| {
                [
                    (*n).to_owned(),
                    cell(&self.burst.steps, n),
                    cell(&self.backlog.steps, n),
                ]
            })
            .chain(std::iter::once([
                "whole rotation (request → Ready)".to_owned(),
                format!(
                    "{:.0} / {:.0} / {:.0} ms (n={})",
                    self.burst.latency.p50_ms,
                    self.burst.latency.p99_ms,
                    self.burst.latency.max_ms,
                    self.burst.latency.count
                ),
                format!(
                    "{:.0} / {:.0} / {:.0} ms (n={})",
                    self.backlog.latency.p50_ms,
                    self.backlog.latency.p99_ms,
                    self.backlog.latency.max_ms,
                    self.backlog.latency.count
                ),
            ]))
            .collect();
        let header = [
            "step".to_owned(),
            "first rotation p50 / p99 / max".to_owned(),
            "renewal p50 / p99 / max".to_owned(),
        ];
        let widths: Vec<usize> = (0..3)
            .map(|c| {
                rows.iter()
                    .chain(std::iter::once(&header))
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |r: &[String; 3]| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(s, w)| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count()))))
                .collect();
            format!("{}\n", cells.join(" | ").trim_end())
        };
        let mut out = line(&header);
        out += &format!("{}\n", "-".repeat(widths.iter().sum::<usize>() + 6));
        for r in &rows {
            out += &line(r);
        }
        out
    }

    /// The table, for humans.
    pub fn table(&self) -> String {
        let w_metric = self
            .targets
            .iter()
            .map(|r| r.metric.chars().count())
            .max()
            .unwrap_or(6);
        let w_target = self
            .targets
            .iter()
            .map(|r| r.target.chars().count())
            .max()
            .unwrap_or(6);
        let w_measured = self
            .targets
            .iter()
            .map(|r| r.measured.chars().count())
            .max()
            .unwrap_or(8);
        let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        let mut out = format!(
            "{} | {} | {} | {} | verdict\n",
            pad("§10", 3),
            pad("metric", w_metric),
            pad("target", w_target),
            pad("measured", w_measured)
        );
        out += &format!(
            "{}\n",
            "-".repeat(3 + w_metric + w_target + w_measured + 9 * 3 + 4)
        );
        for r in &self.targets {
            let verdict = match r.verdict {
                Verdict::Met => "pass",
                Verdict::Missed => "OVER",
                Verdict::Info => "",
            };
            out += &format!(
                "{} | {} | {} | {} | {verdict}\n",
                pad(&r.id, 3),
                pad(&r.metric, w_metric),
                pad(&r.target, w_target),
                pad(&r.measured, w_measured)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::Percentiles;

    fn report() -> Report {
        let mut r = Report::default();
        r.burst.rotations = 10;
        r.burst.ready = 10;
        r.burst.latency = Percentiles {
            count: 10,
            p50_ms: 15.0,
            p99_ms: 4200.0,
            max_ms: 4300.0,
        };
        r.burst.writes.total = 9.5;
        r.backlog.rotations = 10;
        r.backlog.done = 10;
        r.backlog.makespan_s = 1.0;
        r.flatness.rss_ratio = 1.0;
        r.flatness.bytes_ratio = 1.0;
        r
    }

    fn verdict(r: &Report, metric: &str) -> Verdict {
        r.targets
            .iter()
            .find(|row| row.metric.starts_with(metric))
            .unwrap_or_else(|| panic!("no row {metric:?} in {:#?}", r.targets))
            .verdict
    }

    #[test]
    fn verdicts_compare_figures_with_their_targets() {
        let mut r = report();
        r.judge();
        assert_eq!(verdict(&r, "create→Ready p50"), Verdict::Met);
        assert_eq!(verdict(&r, "create→Ready p99"), Verdict::Missed);
        assert_eq!(verdict(&r, "create→Ready max"), Verdict::Info);
        assert_eq!(
            verdict(&r, "API writes per rotation (first rotation)"),
            Verdict::Missed
        );
        assert_eq!(verdict(&r, "API writes per rotation (renewal)"), Verdict::Met);
        assert_eq!(verdict(&r, "backlog of 10 due at once"), Verdict::Met);
    }

    #[test]
    fn a_rotation_that_never_got_ready_misses_the_latency_target() {
        let mut r = report();
        r.burst.ready = 9;
        r.burst.latency.p99_ms = 10.0;
        r.judge();
        assert_eq!(verdict(&r, "create→Ready p99"), Verdict::Missed);
    }

    #[test]
    fn the_table_aligns_columns_and_marks_misses() {
        let mut r = report();
        r.judge();
        let table = r.table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("§10 | metric"));
        // Character (not byte) positions: metrics hold `→`, targets `≤`.
        let bars = |l: &str| -> Vec<usize> {
            l.chars()
                .enumerate()
                .filter(|(_, c)| *c == '|')
                .map(|(i, _)| i)
                .collect()
        };
        let header = bars(lines[0]);
        assert_eq!(header.len(), 4);
        for l in &lines[2..] {
            assert_eq!(bars(l), header, "misaligned: {l}");
        }
        let p99 = lines
            .iter()
            .find(|l| l.contains("create→Ready p99"))
            .expect("p99 row");
        assert!(p99.ends_with("| OVER"), "{p99}");
        let p50 = lines
            .iter()
            .find(|l| l.contains("create→Ready p50"))
            .expect("p50 row");
        assert!(p50.ends_with("| pass"), "{p50}");
    }

    #[test]
    fn the_steps_table_lists_every_step_of_either_phase() {
        let mut r = report();
        let step = |name: &str, p50: f64| StepLatency {
            step: name.to_owned(),
            latency: Percentiles {
                count: 3,
                p50_ms: p50,
                p99_ms: p50,
                max_ms: p50,
            },
        };
        r.burst.steps = vec![step("Pending", 12.0), step("Verifying", 4001.0)];
        r.backlog.steps = vec![step("Pending", 20.0), step("Retiring", 7.0)];
        let table = r.steps_table();
        let row = |name: &str| table.lines().find(|l| l.starts_with(name)).unwrap().to_owned();
        assert!(row("Pending").contains("12 / 12 / 12 ms (n=3)"));
        assert!(row("Pending").contains("20 / 20 / 20 ms (n=3)"));
        assert!(row("Verifying").trim_end().ends_with('-'), "{}", row("Verifying"));
        assert!(row("Retiring").contains("| -"), "{}", row("Retiring"));
        assert!(row("whole rotation").contains("15 / 4200 / 4300 ms (n=10)"));
    }
}
