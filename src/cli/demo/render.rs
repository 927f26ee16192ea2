//! How the demo prints: elapsed times (`[01:05.3]`), spans (`25s`), keys by their public hint
//! (`Ab3…`) and short key ids, and optional ANSI colours.
//!
//! Invariant: pure; the only thing ever shown of a secret is its hint, the first three characters
//! Entra itself publishes (`passwordCredential.hint`), which `kubectl get csrot` shows too.

use jiff::{SignedDuration, Timestamp};

use super::timeline::{Entry, Tag};

/// Whether to colour the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours on.
    pub color: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";

impl Style {
    /// `text` in `code` (nothing added without colour).
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// Bold.
    pub fn bold(&self, text: &str) -> String {
        self.paint(BOLD, text)
    }

    /// Dimmed.
    pub fn dim(&self, text: &str) -> String {
        self.paint(DIM, text)
    }

    /// For problems.
    pub fn red(&self, text: &str) -> String {
        self.paint(RED, text)
    }

    /// For good news.
    pub fn green(&self, text: &str) -> String {
        self.paint(GREEN, text)
    }
}

/// Time since `start` as `mm:ss.d`.
pub fn elapsed(start: Timestamp, t: Timestamp) -> String {
    let tenths = (t.duration_since(start).as_millis().max(0) / 100) as i64;
    format!("{:02}:{:02}.{}", tenths / 600, (tenths / 10) % 60, tenths % 10)
}

/// Time since `start` as `mm:ss`, for times mentioned in a line.
pub fn clock(start: Timestamp, t: Timestamp) -> String {
    let s = t.duration_since(start).as_secs().max(0);
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// A duration the way people say it: `0.4s`, `25s`, `1m5s`, `2h3m`.
pub fn span(d: SignedDuration) -> String {
    let ms = d.as_millis().max(0);
    if ms < 10_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let s = (ms / 1000) as i64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// A key by its public hint: `Ab3…`.
pub fn hint(h: &str) -> String {
    format!("{h}…")
}

/// The first block of a key id (a GUID), enough to tell keys apart: `5f1c2d3e`.
pub fn short_id(id: &str) -> String {
    id.split('-').next().unwrap_or(id).chars().take(8).collect()
}

fn tag_color(tag: Tag) -> &'static str {
    match tag {
        Tag::Setup => BLUE,
        Tag::Minted => CYAN,
        Tag::Probe => DIM,
        Tag::Verified | Tag::Done => GREEN,
        Tag::Written => BLUE,
        Tag::Restarted | Tag::Rollout => YELLOW,
        Tag::Overlap => DIM,
        Tag::Revoked => MAGENTA,
        Tag::Warning => RED,
    }
}

/// The lines of one timeline entry.
pub fn entry(e: &Entry, start: Timestamp, style: Style) -> Vec<String> {
    match e {
        Entry::Heading { at, text } => vec![
            String::new(),
            format!(
                "{} {}",
                style.dim(&format!("[{}]", elapsed(start, *at))),
                style.bold(&format!("── {text} ──"))
            ),
        ],
        Entry::Step { at, tag, text } => vec![format!(
            "{} {} {text}",
            style.dim(&format!("[{}]", elapsed(start, *at))),
            style.paint(tag_color(*tag), &format!("{:<10}", tag.word()))
        )],
        Entry::Detail { label, lines } => lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let label = if i == 0 { *label } else { "" };
                format!("{:10} {} {line}", "", style.dim(&format!("{label:<10}")))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_spans_read_naturally() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t = start + SignedDuration::from_millis(65_340);
        assert_eq!(elapsed(start, t), "01:05.3");
        assert_eq!(clock(start, t), "01:05");
        assert_eq!(span(SignedDuration::from_millis(400)), "0.4s");
        assert_eq!(span(SignedDuration::from_secs(25)), "25s");
        assert_eq!(span(SignedDuration::from_secs(65)), "1m5s");
        assert_eq!(span(SignedDuration::from_secs(120)), "2m");
        assert_eq!(span(SignedDuration::from_secs(7380)), "2h3m");
        assert_eq!(short_id("5f1c2d3e-1111-2222-3333-444455556666"), "5f1c2d3e");
        assert_eq!(hint("Ab3"), "Ab3…");
    }

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(Style { color: false }.green("ok"), "ok");
        assert_eq!(Style { color: true }.green("ok"), "\x1b[32mok\x1b[0m");
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let lines = entry(
            &Entry::Step {
                at: start,
                tag: Tag::Minted,
                text: "key Ab3…".into(),
            },
            start,
            Style { color: false },
        );
        assert_eq!(lines, vec!["[00:00.0] minted     key Ab3…"]);
    }
}
