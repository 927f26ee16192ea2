//! Static checks of the `Dockerfile`: there is no container engine on the build machines, so the
//! image is never built here. These tests parse the Dockerfile and hold it to what the manifests
//! assume of the image: a multi-stage build whose final base has no shell, a numeric non-root user,
//! the binary as exec-form entrypoint with `run` as default command, OCI labels, a locked release
//! build, and nothing secret in `ENV` or `ARG`.

use std::path::Path;

/// One instruction of a Dockerfile, with its continuation lines joined.
#[derive(Debug, Clone)]
struct Instruction {
    /// Upper-cased keyword (`FROM`, `RUN`, ...).
    keyword: String,
    /// Everything after the keyword, flags included.
    args: String,
    /// 1-based line the instruction starts on.
    line: usize,
}

/// One build stage: its `FROM` and the instructions under it.
#[derive(Debug)]
struct Stage {
    base: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

/// Splits a Dockerfile into instructions: drops comments and parser directives, joins lines ending
/// in the escape character `\`.
fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_none()) {
            continue;
        }
        let (continued, body) = match line.strip_suffix('\\') {
            Some(b) => (true, b.trim_end()),
            None => (false, line),
        };
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        if !acc.is_empty() {
            acc.push(' ');
        }
        acc.push_str(body);
        if continued {
            pending = Some((start, acc));
            continue;
        }
        if acc.trim().is_empty() {
            continue;
        }
        let (keyword, args) = acc.split_once(char::is_whitespace).unwrap_or((&acc, ""));
        out.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_owned(),
            line: start,
        });
    }
    assert!(pending.is_none(), "the Dockerfile ends inside a continued line");
    out
}

/// Groups instructions into stages; global `ARG`s before the first `FROM` are returned apart.
fn stages(all: &[Instruction]) -> (Vec<Instruction>, Vec<Stage>) {
    let mut globals = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in all {
        if ins.keyword == "FROM" {
            let words: Vec<&str> = ins
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let name = match words.as_slice() {
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                other => panic!("line {}: cannot read FROM {other:?}", ins.line),
            };
            stages.push(Stage {
                base: words[0].to_owned(),
                name,
                instructions: vec![],
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(ins.clone());
        } else {
            assert_eq!(ins.keyword, "ARG", "line {}: only ARG may precede FROM", ins.line);
            globals.push(ins.clone());
        }
    }
    (globals, stages)
}

/// The exec-form (JSON array) arguments of `ENTRYPOINT`/`CMD`, or `None` for the shell form.
fn exec_form(args: &str) -> Option<Vec<String>> {
    serde_json::from_str(args).ok()
}

/// `KEY=value` pairs of `ENV`/`ARG`/`LABEL` (the legacy `ENV KEY value` form too), values unquoted.
fn assignments(ins: &Instruction) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = ins.args.as_str();
    if ins.keyword == "ENV" && !rest.split_whitespace().next().unwrap_or("").contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return vec![(k.to_owned(), v.trim().to_owned())];
    }
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').map_or((rest, ""), |(k, a)| (k, a));
        let key = key.trim().to_owned();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').expect("closing quote");
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        out.push((key, value));
        rest = remaining.trim_start();
    }
    out
}

fn dockerfile() -> (Vec<Instruction>, Vec<Stage>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    let text = std::fs::read_to_string(&path).expect("Dockerfile exists at the repository root");
    stages(&instructions(&text))
}

fn final_stage(stages: &[Stage]) -> &Stage {
    stages.last().expect("at least one FROM")
}

#[test]
fn is_multi_stage_with_a_named_builder_the_final_stage_copies_from() {
    let (_, stages) = dockerfile();
    assert!(stages.len() >= 2, "expected a builder stage and a runtime stage");
    let builder = &stages[0];
    let builder_name = builder
        .name
        .as_deref()
        .expect("the builder stage is named (FROM ... AS builder)");
    let last = final_stage(&stages);
    let copies: Vec<&Instruction> = last.instructions.iter().filter(|i| i.keyword == "COPY").collect();
    assert!(
        copies
            .iter()
            .any(|c| c.args.contains(&format!("--from={builder_name}"))
                && c.args.trim_end().ends_with(" /secret-rotator")),
        "the final stage must COPY --from={builder_name} the binary to /secret-rotator; COPYs: {copies:?}"
    );
    assert!(
        copies.iter().all(|c| c.args.contains("--from=")),
        "the final stage copies only build output, never the build context: {copies:?}"
    );
}

#[test]
fn builder_uses_a_rust_toolchain_no_older_than_the_crate_and_builds_locked_release() {
    let (globals, stages) = dockerfile();
    let builder = &stages[0];
    let rust_version = globals
        .iter()
        .chain(&builder.instructions)
        .filter(|i| i.keyword == "ARG")
        .flat_map(assignments)
        .find(|(k, _)| k == "RUST_VERSION")
        .map(|(_, v)| v)
        .expect("ARG RUST_VERSION=<x.y> pins the toolchain");
    assert!(
        builder.base.contains("rust:${RUST_VERSION}"),
        "builder base {} should use the pinned RUST_VERSION",
        builder.base
    );
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("workspace rust-version");
    let parse = |v: &str| -> (u32, u32) {
        let mut parts = v.split('.').map(|p| p.parse::<u32>().expect("numeric version"));
        (parts.next().unwrap(), parts.next().unwrap_or(0))
    };
    assert!(
        parse(&rust_version) >= parse(&msrv),
        "the image builds with Rust {rust_version}, older than the crate's rust-version {msrv}"
    );
    let build = builder
        .instructions
        .iter()
        .find(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .expect("the builder runs cargo build");
    for flag in ["--release", "--locked", "--bin secret-rotator"] {
        assert!(
            build.args.contains(flag),
            "cargo build lacks {flag}: {}",
            build.args
        );
    }
}

#[test]
fn final_base_has_no_shell_and_the_final_stage_runs_nothing() {
    let (_, stages) = dockerfile();
    let last = final_stage(&stages);
    // Bases known to ship no shell and no package manager. Distroless `:debug` tags add busybox.
    let shell_less = ["gcr.io/distroless/", "cgr.dev/chainguard/static", "scratch"];
    assert!(
        shell_less.iter().any(|p| last.base.starts_with(p)) && !last.base.contains("debug"),
        "final base {} is not a known shell-less image",
        last.base
    );
    // Without a shell, RUN (and shell-form commands) cannot work in the final stage.
    for ins in &last.instructions {
        assert_ne!(ins.keyword, "RUN", "line {}: RUN in the final stage", ins.line);
        assert_ne!(ins.keyword, "ADD", "line {}: use COPY --from, not ADD", ins.line);
        if ["ENTRYPOINT", "CMD", "HEALTHCHECK"].contains(&ins.keyword.as_str()) {
            assert!(
                exec_form(&ins.args).is_some() || ins.args.starts_with("NONE"),
                "line {}: {} must use the exec (JSON array) form: there is no shell",
                ins.line,
                ins.keyword
            );
        }
    }
}

#[test]
fn runs_as_a_numeric_non_root_user() {
    let (_, stages) = dockerfile();
    let user = final_stage(&stages)
        .instructions
        .iter()
        .rev()
        .find(|i| i.keyword == "USER")
        .expect("the final stage sets USER");
    // Kubernetes can only verify runAsNonRoot for a numeric UID.
    let (uid, gid) = user.args.split_once(':').unwrap_or((&user.args, ""));
    let uid: u32 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER {} is not a numeric UID", user.args));
    assert_ne!(uid, 0, "USER must not be root");
    if !gid.is_empty() {
        let gid: u32 = gid
            .parse()
            .unwrap_or_else(|_| panic!("USER group {gid} is not numeric"));
        assert_ne!(gid, 0, "the group must not be root");
    }
    // The manifests run the pod with the same UID.
    let deployment =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/deployment.yaml"))
            .unwrap();
    assert!(
        deployment.contains(&format!("runAsUser: {uid}")),
        "deploy/deployment.yaml should run as the image's UID {uid}"
    );
}

#[test]
fn entrypoint_is_the_binary_and_run_is_the_default_command() {
    let (_, stages) = dockerfile();
    let last = final_stage(&stages);
    let find = |kw: &str| {
        last.instructions
            .iter()
            .rev()
            .find(|i| i.keyword == kw)
            .and_then(|i| exec_form(&i.args))
            .unwrap_or_else(|| panic!("the final stage has an exec-form {kw}"))
    };
    assert_eq!(find("ENTRYPOINT"), ["/secret-rotator"]);
    assert_eq!(find("CMD"), ["run"]);
}

#[test]
fn carries_oci_labels() {
    let (_, stages) = dockerfile();
    let labels: Vec<(String, String)> = final_stage(&stages)
        .instructions
        .iter()
        .filter(|i| i.keyword == "LABEL")
        .flat_map(assignments)
        .collect();
    for key in [
        "org.opencontainers.image.title",
        "org.opencontainers.image.description",
        "org.opencontainers.image.source",
        "org.opencontainers.image.licenses",
        "org.opencontainers.image.version",
        "org.opencontainers.image.revision",
    ] {
        let value = labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("missing LABEL {key}; labels: {labels:?}"));
        assert!(!value.is_empty(), "LABEL {key} is empty");
    }
    let license = &labels
        .iter()
        .find(|(k, _)| k == "org.opencontainers.image.licenses")
        .unwrap()
        .1;
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("license = \"{license}\"")),
        "the image's license label {license} differs from Cargo.toml's"
    );
}

#[test]
fn no_secret_goes_into_env_or_arg() {
    let (globals, stages) = dockerfile();
    let suspicious = [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "CREDENTIAL",
        "PRIVATE",
        "API_KEY",
        "ACCESS_KEY",
    ];
    let all = globals.iter().chain(stages.iter().flat_map(|s| &s.instructions));
    for ins in all.filter(|i| i.keyword == "ENV" || i.keyword == "ARG") {
        for (key, _) in assignments(ins) {
            let upper = key.to_ascii_uppercase();
            assert!(
                !suspicious.iter().any(|s| upper.contains(s)),
                "line {}: {} {key} looks like a secret; use `RUN --mount=type=secret` instead",
                ins.line,
                ins.keyword
            );
        }
    }
}

#[test]
fn build_context_excludes_git_and_build_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".dockerignore");
    let text = std::fs::read_to_string(path).expect(".dockerignore exists");
    let entries: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    for must in [".git", "target"] {
        assert!(entries.contains(&must), ".dockerignore must exclude {must}");
    }
}

#[test]
fn parser_joins_continuations_and_reads_assignments() {
    let parsed = instructions(
        "# syntax=docker/dockerfile:1\nARG A=1\nFROM x AS b\nRUN a \\\n    && b\nLABEL k=\"v w\" \\\n  l=m\nENV OLD form\n",
    );
    assert_eq!(parsed.len(), 5);
    assert_eq!(parsed[2].args, "a && b");
    assert_eq!(parsed[2].line, 4);
    assert_eq!(
        assignments(&parsed[3]),
        [
            ("k".to_owned(), "v w".to_owned()),
            ("l".to_owned(), "m".to_owned())
        ]
    );
    assert_eq!(assignments(&parsed[4]), [("OLD".to_owned(), "form".to_owned())]);
    let (globals, st) = stages(&parsed);
    assert_eq!(globals.len(), 1);
    assert_eq!(st[0].name.as_deref(), Some("b"));
    assert_eq!(
        exec_form("[\"/a\", \"b\"]"),
        Some(vec!["/a".to_owned(), "b".to_owned()])
    );
    assert_eq!(exec_form("/a b"), None);
}
