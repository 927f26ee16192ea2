//! Durations in the spec, written the way Go's `time.ParseDuration` (and so `kubectl`, cert-manager
//! and CEL's `duration()`) writes them: `2160h`, `30m`, `1h30m`, `90s`.
//!
//! Invariant: [`GoDuration`] keeps the user's text verbatim, so that an object the schema let through
//! always deserializes (a typed watch never fails on one bad object); the decision core parses it
//! with [`GoDuration::to_signed`] and reports a condition when it does not parse, never panics.
//!
//! NB: days (`90d`) are not a Go duration unit. The schema pattern [`GO_DURATION_PATTERN`] refuses
//! them at `kubectl apply` time with a message that shows an example.

use std::{borrow::Cow, fmt, str::FromStr};

use jiff::SignedDuration;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The pattern every duration field carries in the CRD schema: one or more `<number><unit>` groups,
/// units `h`, `m`, `s` or `ms`, no sign. A subset of what Go accepts (no `ns`/`us`, no negatives),
/// so that anything the schema admits parses identically in Go, CEL and Rust.
pub const GO_DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$";

/// The same pattern in the form CEL rules use inside single-quoted string literals.
pub(crate) const GO_DURATION_CEL_PATTERN: &str = r"^([0-9]+(\\.[0-9]+)?(h|m|s|ms))+$";

/// A duration in Go's `time.ParseDuration` syntax (`2160h`, `30m`, `1h30m`), kept as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GoDuration(pub String);

/// Why a duration did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a duration such as 2160h, 30m or 1h30m: {detail}")]
pub struct InvalidDuration {
    /// The text as written.
    pub value: String,
    /// What is wrong with it.
    pub detail: String,
}

impl GoDuration {
    /// A duration from its text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the text. Accepts exactly what [`GO_DURATION_PATTERN`] accepts.
    pub fn to_signed(&self) -> Result<SignedDuration, InvalidDuration> {
        let text = self.0.as_str();
        let invalid = |detail: &str| InvalidDuration {
            value: text.to_owned(),
            detail: detail.to_owned(),
        };
        if text.is_empty() {
            return Err(invalid("empty"));
        }
        if !matches_pattern(text) {
            return Err(invalid(
                "expected one or more <number><unit> groups with unit h, m, s or ms",
            ));
        }
        let parsed = kube::core::Duration::from_str(text).map_err(|e| invalid(&e.to_string()))?;
        if parsed.is_negative() {
            return Err(invalid("negative"));
        }
        SignedDuration::try_from(std::time::Duration::from(parsed)).map_err(|_| invalid("too long"))
    }
}

/// A hand-rolled matcher for [`GO_DURATION_PATTERN`], so that parsing needs no regex engine and
/// the Rust side never accepts more than the schema does.
fn matches_pattern(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut groups = 0;
    while i < bytes.len() {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        i += digits;
        if bytes.get(i) == Some(&b'.') {
            let fraction = bytes[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if fraction == 0 {
                return false;
            }
            i += 1 + fraction;
        }
        match (bytes.get(i), bytes.get(i + 1)) {
            (Some(b'm'), Some(b's')) => i += 2,
            (Some(b'h' | b'm' | b's'), _) => i += 1,
            _ => return false,
        }
        groups += 1;
    }
    groups > 0
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for GoDuration {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl JsonSchema for GoDuration {
    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": 32,
            "pattern": GO_DURATION_PATTERN,
        })
    }
}

/// Formats a duration the way Go prints one (`2160h0m0s` style is avoided: whole hours print as
/// `2160h`, otherwise hours, minutes and seconds appear as needed), for messages and events.
pub fn format_duration(duration: SignedDuration) -> String {
    let total = duration.as_secs().max(0);
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_go_would() {
        let cases = [
            ("2160h", 2160 * 3600),
            ("30m", 1800),
            ("1h30m", 5400),
            ("90s", 90),
            ("1.5h", 5400),
            ("0s", 0),
            ("1h0m30s", 3630),
        ];
        for (text, secs) in cases {
            assert_eq!(
                GoDuration::from(text).to_signed(),
                Ok(SignedDuration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(
            GoDuration::from("250ms").to_signed(),
            Ok(SignedDuration::from_millis(250))
        );
    }

    #[test]
    fn what_the_schema_refuses_does_not_parse() {
        for text in [
            "", "90d", "-1h", "1", "h", "1.h", "1h 30m", "P90D", "1y", "10us", "1e3s", " 1h",
        ] {
            assert!(
                GoDuration::from(text).to_signed().is_err(),
                "{text:?} should not parse"
            );
        }
    }

    #[test]
    fn the_pattern_matcher_agrees_with_the_schema_regex() {
        let re = regex::Regex::new(GO_DURATION_PATTERN).unwrap();
        for text in [
            "2160h", "30m", "1h30m", "1.5h", "250ms", "90d", "1", "1.h", "-1h", "1h 30m", "ms", "1msh",
        ] {
            assert_eq!(matches_pattern(text), re.is_match(text), "{text:?}");
        }
    }

    #[test]
    fn formats_like_a_human_would_write_it() {
        assert_eq!(format_duration(SignedDuration::from_hours(2160)), "2160h");
        assert_eq!(format_duration(SignedDuration::from_secs(5430)), "1h30m30s");
        assert_eq!(format_duration(SignedDuration::ZERO), "0s");
    }
}
