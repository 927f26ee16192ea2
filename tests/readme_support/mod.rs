//! Reading `README.md` for `tests/readme_examples.rs`: its fenced blocks with the
//! `<!-- example: NAME -->` marker right before each, its troubleshooting table, and the reasons
//! the code can put on a condition (read from the source files that define them).
//!
//! Invariant: every fenced block is returned with its marker or reported without one; nothing in
//! the README is skipped silently.

#![allow(dead_code)]

use std::{collections::BTreeSet, path::Path};

/// A fenced block of the README.
#[derive(Clone, Debug)]
pub struct Block {
    /// The name in the `<!-- example: NAME -->` comment right before the fence, if any.
    pub marker: Option<String>,
    /// The fence's info string (`sh`, `yaml`, `text`).
    pub lang: String,
    /// The body, with the fence's own indentation removed.
    pub body: String,
    /// 1-based line of the opening fence.
    pub line: usize,
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a file below the repository root.
pub fn read(relative: &str) -> String {
    std::fs::read_to_string(repo().join(relative)).unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// The README's text.
pub fn readme() -> String {
    read("README.md")
}

/// Every fenced block of `text`, in order.
pub fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let indent = lines[i].len() - trimmed.len();
        let fence_line = i;
        let marker = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| {
                l.trim()
                    .strip_prefix("<!-- example:")
                    .and_then(|rest| rest.strip_suffix("-->"))
                    .map(|name| name.trim().to_owned())
            });
        let mut body = vec![];
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            let line = lines[i];
            let cut = line.len() - line.trim_start().len();
            body.push(&line[cut.min(indent)..]);
            i += 1;
        }
        assert!(i < lines.len(), "README.md:{}: unclosed fence", fence_line + 1);
        out.push(Block {
            marker,
            lang: info.trim().to_owned(),
            body: body.join("\n") + "\n",
            line: fence_line + 1,
        });
        i += 1;
    }
    out
}

/// The block marked `name` (exactly one must exist).
pub fn block(name: &str) -> Block {
    let all: Vec<Block> = blocks(&readme())
        .into_iter()
        .filter(|b| b.marker.as_deref() == Some(name))
        .collect();
    assert_eq!(all.len(), 1, "README.md: expected one block marked {name:?}");
    all.into_iter().next().unwrap()
}

/// A shell block's commands: continuation lines joined, comments and blank lines dropped,
/// whitespace collapsed.
pub fn commands(body: &str) -> Vec<String> {
    let joined = body.replace("\\\n", " ");
    joined
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Collapses every run of whitespace (and shell line continuations) into one space.
pub fn normalize(text: &str) -> String {
    text.replace("\\\n", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first column of the table under the heading `## {heading}`: the backticked names.
pub fn table_names(text: &str, heading: &str) -> Vec<String> {
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let section = &text[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    section[..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim_start_matches("| `")
                .split('`')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The string values of `pub const NAME: &str = "value";` lines in `text`.
fn const_strings(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"pub const [A-Z_]+: &str = "([A-Za-z]+)";"#).unwrap();
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

/// The body of `pub mod {name} {` ... the matching `}` in `text`.
fn module_body<'a>(text: &'a str, name: &str) -> &'a str {
    let open = format!("pub mod {name} {{");
    let start = text.find(&open).unwrap_or_else(|| panic!("no `{open}`")) + open.len();
    let mut depth = 1;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[start..start + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced `{open}`")
}

/// Every reason the code can put on a condition, read from where each kind is defined:
/// `wellknown::reason` (conditions of rotations and providers), the provider's `Reason::as_str`,
/// the controller's own step failures, and the further failure reasons `known_reason` passes
/// through.
pub fn reasons_in_code() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    let wellknown = read("src/api/wellknown.rs");
    all.extend(const_strings(module_body(&wellknown, "reason")));
    let provider = read("src/provider/mod.rs");
    let arm = regex::Regex::new(r#"Reason::([A-Za-z]+) => "([A-Za-z]+)""#).unwrap();
    for c in arm.captures_iter(&provider) {
        assert_eq!(&c[1], &c[2], "provider::Reason::{} is spelled differently", &c[1]);
        all.insert(c[2].to_owned());
    }
    all.extend(const_strings(&read("src/controller/failure.rs")));
    let conditions = read("src/rotation/conditions.rs");
    let start = conditions
        .find("pub fn known_reason")
        .expect("conditions::known_reason");
    let body = &conditions[start..];
    let body = &body[..body.find("\n}\n").expect("end of known_reason")];
    let literal_arm = regex::Regex::new(r#""([A-Za-z]+)" => "([A-Za-z]+)""#).unwrap();
    for c in literal_arm.captures_iter(body) {
        all.insert(c[2].to_owned());
    }
    all
}
