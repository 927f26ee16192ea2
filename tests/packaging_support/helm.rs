//! The pinned chart toolchain (Helm's Go SDK through `helm-python-sdk`, and
//! `kubernetes-validate`) in a virtualenv cached under the cargo target directory, and the calls
//! the chart tests make through it.
//!
//! NB: the toolchain comes from PyPI. When PyPI (or python3 with venv) is not there, the tests
//! fail and say so: a chart that was not validated must not look validated.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::manifests::parse_stream;

const REQUIREMENTS: &str = "tests/packaging_support/chart-tools-requirements.txt";
const DRIVER: &str = "tests/packaging_support/helm_driver.py";
/// The chart under test.
pub const CHART: &str = "charts/secret-rotator";
/// Release name and namespace of every render (what docs/install.md uses).
pub const RELEASE: &str = "secret-rotator";
pub const NAMESPACE: &str = "secret-rotator";
/// The Kubernetes version manifests are validated against: the operator's minimum.
pub const KUBERNETES_VERSION: &str = "1.33.0";

/// The virtualenv's interpreter.
pub struct Toolchain {
    python: PathBuf,
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()))
}

/// The toolchain, installed on first use (once per requirements file version) under
/// `target/tmp/chart-tools/`.
pub fn toolchain() -> &'static Toolchain {
    static TOOLCHAIN: OnceLock<Toolchain> = OnceLock::new();
    TOOLCHAIN.get_or_init(install)
}

fn install() -> Toolchain {
    let requirements = super::repo_path(REQUIREMENTS);
    let pins = std::fs::read(&requirements).expect("requirements file");
    let digest: String = Sha256::digest(&pins)[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chart-tools");
    let venv = root.join(format!("venv-{digest}"));
    let python = venv.join("bin/python");
    let done = venv.join(".installed");
    if done.exists() {
        return Toolchain { python };
    }
    // A half-built virtualenv from an interrupted run is rebuilt from scratch, in a directory of
    // this process's own, and moved into place only once complete.
    let staging = root.join(format!("staging-{digest}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&root).expect("target/tmp is writable");
    let out = run(Command::new("python3").args(["-m", "venv"]).arg(&staging));
    assert!(
        out.status.success(),
        "cannot create a Python virtualenv for the chart toolchain (python3 with the venv module is \
         required: apt-get install python3-venv):\n{}",
        describe(&out)
    );
    let staged_python = staging.join("bin/python");
    let out = run(Command::new(&staged_python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--no-deps",
        ])
        .args(["--timeout", "60", "--retries", "3", "-r"])
        .arg(&requirements));
    assert!(
        out.status.success(),
        "cannot install the pinned chart toolchain from PyPI ({REQUIREMENTS}). The chart tests need \
         PyPI to be reachable once (the virtualenv is then cached under {}); without it the Helm \
         chart is NOT validated:\n{}",
        root.display(),
        describe(&out)
    );
    let out = run(Command::new(&staged_python).args(["-m", "pip", "check"]));
    assert!(
        out.status.success(),
        "{REQUIREMENTS} misses a dependency (pin it too):\n{}",
        describe(&out)
    );
    std::fs::write(staging.join(".installed"), &pins).unwrap();
    // Another test process may have won the race; either virtualenv is complete.
    if std::fs::rename(&staging, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    // The interpreter is a symlink into the base Python, so moving the virtualenv keeps it working
    // (every tool is started as `python -m ...`, never through the scripts' shebangs).
    assert!(
        done.exists(),
        "the chart toolchain was not installed in {}",
        venv.display()
    );
    Toolchain { python }
}

/// A rendered chart: the CRDs of its `crds/` directory and the rendered templates.
pub struct Rendered {
    pub crds: Vec<Value>,
    pub templates: Vec<Value>,
    /// CRDs, then templates, as one YAML stream (what `helm template --include-crds` prints).
    pub yaml: String,
    /// The rendered NOTES.txt.
    pub notes: String,
}

impl Rendered {
    /// CRDs and templates together.
    pub fn all(&self) -> Vec<Value> {
        self.crds.iter().chain(&self.templates).cloned().collect()
    }
}

impl Toolchain {
    fn driver(&self, args: &[&str]) -> Output {
        run(Command::new(&self.python)
            .arg(super::repo_path(DRIVER))
            .args(args)
            .current_dir(super::repo()))
    }

    /// `helm lint --strict` with the values file: (severity, path, message) of each finding.
    pub fn lint(&self, values_file: &Path) -> Vec<(u64, String, String)> {
        let out = self.driver(&["lint", CHART, &values_file.display().to_string()]);
        assert!(
            out.status.success(),
            "helm lint could not run:\n{}",
            describe(&out)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("lint report is JSON");
        let mut findings: Vec<(u64, String, String)> = report["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["severity"].as_u64().unwrap_or(0),
                    m["path"].as_str().unwrap_or_default().to_owned(),
                    m["error"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        for e in report["errors"].as_array().into_iter().flatten() {
            findings.push((3, String::new(), e.as_str().unwrap_or_default().to_owned()));
        }
        findings
    }

    /// Validates a values file against `values.schema.json`: `Err(message)` when it is rejected.
    pub fn validate_values(&self, values_file: &Path) -> Result<(), String> {
        let out = self.driver(&["validate", CHART, &values_file.display().to_string()]);
        match out.status.code() {
            Some(0) => Ok(()),
            Some(2) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            _ => panic!("schema validation could not run:\n{}", describe(&out)),
        }
    }

    /// Renders the chart with a values file, as `helm template --include-crds` would; `Err` with
    /// Helm's message when the values are rejected or a template fails.
    pub fn try_render(&self, values_file: &Path) -> Result<Rendered, String> {
        let out = self.driver(&[
            "render",
            CHART,
            RELEASE,
            NAMESPACE,
            &values_file.display().to_string(),
        ]);
        match out.status.code() {
            Some(0) => {}
            Some(2) | Some(3) => return Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            _ => panic!("helm render could not run:\n{}", describe(&out)),
        }
        let result: Value = serde_json::from_slice(&out.stdout).expect("render output is JSON");
        let mut yaml = String::new();
        let mut crds = Vec::new();
        for crd in result["crds"].as_array().into_iter().flatten() {
            let text = crd["data"].as_str().unwrap_or_default();
            crds.extend(parse_stream(text, crd["filename"].as_str().unwrap_or("crd")));
            yaml += &format!("---\n{text}\n");
        }
        let manifests = result["manifests"].as_object().expect("manifests map");
        let mut names: Vec<&String> = manifests.keys().collect();
        names.sort();
        let mut templates = Vec::new();
        let mut notes = String::new();
        for name in names {
            let text = manifests[name].as_str().unwrap_or_default();
            if name.ends_with("NOTES.txt") {
                notes = text.to_owned();
                continue;
            }
            templates.extend(parse_stream(text, name));
            yaml += &format!("---\n# Source: {name}\n{text}\n");
        }
        Ok(Rendered {
            crds,
            templates,
            yaml,
            notes,
        })
    }

    /// Renders the chart with a values file; fails the test when Helm refuses.
    pub fn render(&self, values_file: &Path) -> Rendered {
        self.try_render(values_file)
            .unwrap_or_else(|e| panic!("helm could not render {}: {e}", values_file.display()))
    }

    /// `kubernetes-validate -k 1.33.0 --strict` over a YAML stream: one line per document.
    pub fn kubernetes_validate(&self, yaml: &str) -> (bool, String) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rendered.yaml");
        std::fs::write(&file, yaml).unwrap();
        let out = run(Command::new(&self.python)
            .args(["-m", "kubernetes_validate", "-k", KUBERNETES_VERSION, "--strict"])
            .arg(&file));
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// The values files of `charts/secret-rotator/ci/`, sorted.
pub fn ci_values_files() -> Vec<PathBuf> {
    let dir = super::repo_path(&format!("{CHART}/ci"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("charts/secret-rotator/ci exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// One of the `ci/` values files by name.
pub fn ci_values(name: &str) -> PathBuf {
    let path = super::repo_path(&format!("{CHART}/ci/{name}"));
    assert!(path.exists(), "{} is missing", path.display());
    path
}
