//! Running real kubectl binaries against a sandbox API server, for tests: a fresh `HOME` and
//! discovery cache per client, a generated kubeconfig, captured output, and background commands
//! (`get --watch`, `wait`) whose output lines can be awaited.
//!
//! Invariant: a [`Kubectl`] reads only its own kubeconfig and `HOME`, so no configuration of the
//! machine's user leaks into a test. NB: a test driver: its methods panic, with kubectl's output,
//! when kubectl is missing or does not do what the caller requires.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where the kubectl clients are installed.
pub const BIN_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

/// The path of a kubectl binary (`kubectl.1.33`, `kubectl` for the dispatcher); panics when it
/// is missing, since these tests drive the kubectl binaries that come with the machine image.
pub fn binary(name: &str) -> PathBuf {
    let bin = Path::new(BIN_DIR).join(name);
    assert!(
        bin.exists(),
        "{} is not installed: these tests drive the kubectl binaries that come with the machine image",
        bin.display()
    );
    bin
}

/// A kubectl client configured for one server, with its own HOME.
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    home: PathBuf,
}

/// The result of one kubectl run.
#[derive(Debug)]
pub struct Run {
    /// Exit status was 0.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Kubectl {
    /// A client using `bin` with this kubeconfig, keeping its files under `dir`.
    pub fn new(bin: PathBuf, kubeconfig: &str, dir: &Path) -> Self {
        let kubeconfig_path = dir.join("kubeconfig");
        std::fs::write(&kubeconfig_path, kubeconfig).expect("kubeconfig written");
        let kubeconfig = kubeconfig_path;
        Kubectl {
            bin,
            kubeconfig,
            home: dir.to_path_buf(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .env("HOME", &self.home)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs kubectl to completion.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut child = self.command(args).spawn().expect("kubectl runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin is piped")
                .write_all(input.as_bytes())
                .expect("stdin written");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("kubectl finishes");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// Runs kubectl and requires success; returns stdout.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let r = self.run(args, stdin);
        assert!(
            r.ok,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs kubectl and requires failure; returns the run.
    pub fn fails(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let r = self.run(args, stdin);
        assert!(
            !r.ok,
            "kubectl {args:?} should have failed:\nstdout: {}",
            r.stdout
        );
        r
    }

    /// Starts kubectl in the background; its stdout lines arrive on the returned handle.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let mut child = self.command(args).spawn().expect("kubectl runs");
        drop(child.stdin.take());
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Background {
            child,
            lines: rx,
            seen: vec![],
        }
    }
}

/// A kubectl running in the background.
pub struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Background {
    /// Waits (up to `limit`) for an output line containing every one of `parts`.
    pub fn expect_line(&mut self, parts: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if parts.iter().all(|p| line.contains(p)) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {parts:?} within {limit:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Waits for it to exit; returns whether it succeeded.
    pub fn wait(mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("kubectl status") {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("kubectl still running after {limit:?}; output {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
