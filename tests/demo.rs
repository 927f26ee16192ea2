//! `secret-rotator demo`, the real binary: on its own in-process sandbox (sped up with `--speed`)
//! it rotates the secret, prints the timeline's steps in order for every rotation and a summary
//! of zero downtime, serves a kubeconfig a `kube::Client` can use while it runs, never prints a
//! secret value, stops cleanly on Ctrl-C and fails clearly on a timeout or bad flags.

use std::{
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};
use regex::Regex;
use secret_rotator::api::ClientSecretRotation;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

/// Generous, for a loaded 2-core machine: a fast demo takes a few seconds.
const PATIENCE: Duration = Duration::from_secs(150);

/// The demo's namespace, rotation and Secret.
const NAMESPACE: &str = "demo";
const ROTATION: &str = "payments-api";
const SECRET: &str = "payments-api-credentials";

/// A running `secret-rotator demo`: its stdout line by line, its stderr as a whole.
struct Demo {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: tokio::task::JoinHandle<String>,
}

impl Demo {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_secret-rotator"))
            .arg("demo")
            .args(args)
            // The operator's own logs go to stderr: they are checked for secrets too.
            .env("RUST_LOG", "secret_rotator=debug")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = Arc::new(Mutex::new(vec![]));
        let all = stdout.clone();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                all.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text).await;
            text
        });
        Self {
            child,
            lines,
            stdout,
            stderr,
        }
    }

    /// Waits for a line of standard output that `matches`, and returns it.
    async fn line(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.lines.recv().await {
                if matches(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!(
                "no line {what} on the demo's output:\n{}",
                self.stdout.lock().unwrap().join("\n")
            ),
        }
    }

    /// The kubeconfig path the header prints.
    async fn kubeconfig(&mut self) -> PathBuf {
        let line = self.line("naming the kubeconfig", |l| l.trim_start().starts_with("kubeconfig ")).await;
        PathBuf::from(line.trim_start().trim_start_matches("kubeconfig").trim())
    }

    /// Waits for the exit; returns the status, stdout and stderr.
    async fn finish(mut self) -> (ExitStatus, String, String) {
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the demo exits in time")
            .unwrap();
        let stderr = self.stderr.await.unwrap();
        // The reader task drains stdout to its end once the process exits.
        let stdout = tokio::time::timeout(PATIENCE, async {
            while self.lines.recv().await.is_some() {}
            self.stdout.lock().unwrap().join("\n")
        })
        .await
        .expect("stdout closes");
        (status, stdout, stderr)
    }

    fn interrupt(&self) {
        let pid = self.child.id().expect("still running");
        let killed = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
}

fn install_rustls() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

async fn client_from(kubeconfig: &Path) -> (Client, String) {
    let kc = Kubeconfig::read_from(kubeconfig).expect("the printed kubeconfig reads");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("the printed kubeconfig is usable");
    let server = config.cluster_url.to_string();
    (Client::try_from(config).unwrap(), server)
}

/// The steps of each rotation's section of the timeline, by rotation number.
fn sections(stdout: &str) -> Vec<(u32, Vec<String>)> {
    let heading = Regex::new(r"^\[\d\d:\d\d\.\d\] ── rotation (\d+) · ").unwrap();
    let step = Regex::new(r"^\[\d\d:\d\d\.\d\] ([a-z-]+) +(.*)$").unwrap();
    let mut out: Vec<(u32, Vec<String>)> = vec![];
    for line in stdout.lines() {
        if line.starts_with("Summary") {
            break;
        }
        if let Some(c) = heading.captures(line) {
            out.push((c[1].parse().unwrap(), vec![]));
        } else if let (Some(c), Some((_, steps))) = (step.captures(line), out.last_mut()) {
            let tag = &c[1];
            // `rollout complete` ends a rollout; other rollout lines are progress.
            let tag = if tag == "rollout" && c[2].starts_with("complete") {
                "rollout-complete"
            } else {
                tag
            };
            if steps.last().map(String::as_str) != Some(tag) {
                steps.push(tag.to_owned());
            }
        }
    }
    out
}

/// Whether `wanted` appears in `steps` in this order (other steps may come between).
fn in_order(steps: &[String], wanted: &[&str]) -> bool {
    let mut rest = steps.iter();
    wanted.iter().all(|w| rest.any(|s| s == w))
}

/// Elapsed times of the timeline, in tenths of a second.
fn times(stdout: &str) -> Vec<u64> {
    let time = Regex::new(r"^\[(\d\d):(\d\d)\.(\d)\]").unwrap();
    stdout
        .lines()
        .filter_map(|l| time.captures(l))
        .map(|c| c[1].parse::<u64>().unwrap() * 600 + c[2].parse::<u64>().unwrap() * 10 + c[3].parse::<u64>().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_rotates_twice_with_zero_downtime_and_prints_only_hints() {
    install_rustls();
    let mut demo = Demo::start(&["--rotations", "2", "--speed", "20", "--no-color"]);
    let kubeconfig = demo.kubeconfig().await;
    assert!(kubeconfig.is_file(), "{} exists while the demo runs", kubeconfig.display());
    let (client, server) = client_from(&kubeconfig).await;
    assert!(server.starts_with("https://127.0.0.1:"), "a loopback HTTPS server: {server}");

    // While the demo runs, the printed kubeconfig reaches its API server: the rotation is there,
    // and every value the Secret takes is collected, to check none is ever printed.
    let rotations: Api<ClientSecretRotation> = Api::namespaced(client.clone(), NAMESPACE);
    let secrets: Api<Secret> = Api::namespaced(client, NAMESPACE);
    let mut seen_rotation = false;
    let mut values: Vec<String> = vec![];
    while demo.child.try_wait().unwrap().is_none() {
        if let Ok(list) = rotations.list(&Default::default()).await {
            seen_rotation |= list.items.iter().any(|r| r.metadata.name.as_deref() == Some(ROTATION));
        }
        if let Ok(Some(secret)) = secrets.get_opt(SECRET).await
            && let Some(value) = secret.data.as_ref().and_then(|d| d.get("client-secret"))
        {
            let value = String::from_utf8(value.0.clone()).unwrap();
            if !values.contains(&value) {
                values.push(value);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, stdout, stderr) = demo.finish().await;
    assert!(status.success(), "exit status {status}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(seen_rotation, "a kube::Client from the printed kubeconfig listed the rotation");
    assert!(!kubeconfig.exists(), "the temporary kubeconfig is removed at exit");

    // Header: where to look from a second terminal.
    assert!(stdout.contains("kubectl --kubeconfig "), "{stdout}");

    // The timeline: the first key, then two rotations, each step in the operator's order.
    let sections = sections(&stdout);
    assert_eq!(
        sections.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [1, 2, 3],
        "{stdout}"
    );
    let first = ["minted", "probe", "verified", "written", "restarted", "rollout-complete", "done"];
    assert!(in_order(&sections[0].1, &first), "rotation 1: {:?}\n{stdout}", sections[0].1);
    for (n, steps) in &sections[1..] {
        let wanted = [
            "minted",
            "probe",
            "verified",
            "written",
            "restarted",
            "rollout",
            "rollout-complete",
            "overlap",
            "revoked",
            "done",
        ];
        assert!(in_order(steps, &wanted), "rotation {n}: {steps:?}\n{stdout}");
        assert!(!steps.iter().any(|s| s == "warning"), "rotation {n}: {steps:?}\n{stdout}");
    }
    let times = times(&stdout);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times never go back: {times:?}");

    // The summary.
    for expected in [
        "rotations    2 done after the first key was issued (rotation 2, 3)",
        "downtime     none: ",
        "keys         3 minted, 2 revoked; valid at Entra now: ",
        "orphans      none",
        "final state  Ready=True (UpToDate)",
    ] {
        assert!(stdout.contains(expected), "summary line {expected:?} in\n{stdout}");
    }

    // No secret value anywhere, only hints; the hints shown are the real keys'.
    assert!(!values.is_empty(), "the Secret was read while the demo ran");
    for value in &values {
        assert!(!stdout.contains(value.as_str()) && !stderr.contains(value.as_str()));
        assert!(stdout.contains(&format!("{}…", &value[..3])), "the hint of a key the Secret held");
    }
    let entra_secret = Regex::new(r"[A-Za-z0-9._~-]{3}8Q~[A-Za-z0-9._~-]{4,}").unwrap();
    assert!(!entra_secret.is_match(&stdout), "{stdout}");
    assert!(!entra_secret.is_match(&stderr), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_demo_cleanly() {
    let mut demo = Demo::start(&["--no-color"]);
    let kubeconfig = demo.kubeconfig().await;
    demo.line("saying the operator runs", |l| l.contains("operator running")).await;
    demo.interrupt();
    let (status, stdout, stderr) = demo.finish().await;
    assert_eq!(status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stdout.contains("Interrupted: stopping the operator and the sandbox."), "{stdout}");
    assert!(!stdout.contains("Summary"), "{stdout}");
    assert!(!kubeconfig.exists(), "the temporary kubeconfig is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_running_stays_up_after_the_summary_until_ctrl_c() {
    let mut demo = Demo::start(&["--rotations", "1", "--speed", "20", "--keep-running", "--no-color"]);
    let kubeconfig = demo.kubeconfig().await;
    demo.line("with the summary", |l| l.starts_with("Summary")).await;
    demo.line("saying it keeps running", |l| l.starts_with("Still running")).await;
    // The operator goes on: the timeline shows the next rotation.
    demo.line("heading a further rotation", |l| l.contains("── rotation 3 · scheduled")).await;
    assert!(kubeconfig.is_file(), "the kubeconfig stays while the demo runs");
    demo.interrupt();
    let (status, stdout, stderr) = demo.finish().await;
    assert!(status.success(), "a completed demo stopped by Ctrl-C: {status}\n{stdout}\n{stderr}");
    assert!(stdout.contains("Stopping the operator and the sandbox."), "{stdout}");
    assert!(
        stdout.contains(&format!("kubectl --kubeconfig {} describe csrot payments-api -n demo", kubeconfig.display())),
        "{stdout}"
    );
    assert!(!kubeconfig.exists(), "the temporary kubeconfig is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_that_does_not_finish_in_time_fails_with_a_clear_message() {
    // In real time the first rotation takes seconds: one second is not enough.
    let mut demo = Demo::start(&["--timeout", "1s", "--no-color"]);
    let kubeconfig = demo.kubeconfig().await;
    let (status, stdout, stderr) = demo.finish().await;
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("did not finish within 1s"), "{stderr}");
    assert!(!stdout.contains("Summary"), "{stdout}");
    assert!(!kubeconfig.exists(), "the temporary kubeconfig is removed");
}

#[test]
fn bad_flags_say_what_to_use_and_help_explains_the_flags() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_secret-rotator"))
            .arg("demo")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--lifetime", "30s"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--lifetime 30s is out of range: use 1m"), "{stderr}");
    let out = run(&["--lifetime", "1m", "--overlap", "30s"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most a quarter of the lifetime"));
    let out = run(&["--rotations", "0"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses it");

    let help = run(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--rotations",
        "--lifetime",
        "--overlap",
        "--replicas",
        "--speed",
        "--timeout",
        "--keep-running",
        "--kubeconfig",
    ] {
        assert!(help.contains(flag), "{flag} in\n{help}");
    }
}
