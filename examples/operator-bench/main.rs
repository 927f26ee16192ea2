//! Speed and memory figures of the secret-rotator operator, against the targets of performance
//! anchors §10: the real `secret-rotator run` binary as a separate process (its memory and CPU
//! read from `/proc`), the sandbox API server and the Entra emulator in this process, on loopback.
//!
//! ```text
//! cargo build --release --bin secret-rotator
//! cargo run --release --example operator-bench [-- --quick | --rotations N | --with-10k | --help]
//! ```
//!
//! Prints progress on standard error, then a target-vs-measured table, details, and the figures
//! as JSON (the last thing on standard output). Asserts nothing: a missed target is an `OVER`
//! row. See `docs/benchmarks.md`.

mod bench;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let opts = match bench::Options::parse(std::env::args().skip(1))? {
        bench::Command::Run(opts) => opts,
        bench::Command::Help => {
            print!("{}", bench::USAGE);
            return Ok(());
        }
    };
    if opts.pin {
        // Before the runtime's threads exist, so they all inherit it.
        bench::process::pin_self_to_cpu1().context("pinning the benchmark to CPU 1 (try --no-pin)")?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(bench::run(&opts))?;
    println!("\nsecret-rotator operator benchmark, {}", report.date);
    println!(
        "machine: {} CPUs ({}), {} MiB; load average at start {}; {}",
        report.machine.cpus,
        report.machine.cpu_model,
        report.machine.memory_mib,
        report.machine.load_average_at_start,
        if report.machine.pinned {
            "operator pinned to CPU 0, API server + emulator + benchmark to CPU 1"
        } else {
            "not pinned"
        }
    );
    println!("run took {:.0} s\n", report.duration_s);
    print!("{}", report.table());
    println!("\nRotation latency per step (the time spent in each phase):");
    print!("{}", report.steps_table());
    println!("\nAPI writes per rotation, by request:");
    for (what, writes) in [
        ("first rotation", &report.burst.writes),
        ("renewal", &report.backlog.writes),
    ] {
        let detail: Vec<String> = writes
            .by_resource
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect();
        println!("  {what}: {}", detail.join(", "));
    }
    println!(
        "Entra calls: burst {:?}\n             backlog {:?}",
        report.burst.graph, report.backlog.graph
    );
    if report.operator_log.warnings + report.operator_log.errors > 0 {
        println!(
            "operator log: {} warnings, {} errors; first ones:",
            report.operator_log.warnings, report.operator_log.errors
        );
        for line in &report.operator_log.samples {
            println!("  {line}");
        }
    }
    println!(
        "operator wire totals: {} requests, {} KiB sent, {} KiB received, {} connections not parsed",
        report.wire.requests,
        report.wire.bytes_sent / 1024,
        report.wire.bytes_received / 1024,
        report.wire.unparsed_connections
    );
    println!("\n{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
