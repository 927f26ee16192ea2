//! The string `format`s kube-apiserver checks in custom resources (`date-time`, `date`,
//! `duration`, `byte`, `uuid`, `ipv4`, `ipv6`, `cidr`, `hostname`, `email`, `mac`). Formats it does
//! not know are not checked, like the real server, which drops unsupported formats.
//!
//! Invariant: a checker never panics, whatever the string.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$").expect("uuid regex")
});
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$",
    )
    .expect("hostname regex")
});
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^@\s]+@[^@\s]+\.[^@\s]+$").expect("email regex"));
static MAC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$|^([0-9A-Fa-f]{4}\.){2}([0-9A-Fa-f]{4})$")
        .expect("mac regex")
});
static GO_DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$|^[-+]?0$")
        .expect("duration regex")
});
static WORD_DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(\d+)\s*(ns|us|µs|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|sec|minutes?|mins?|hours?|hr|days?|weeks?|wk)$",
    )
    .expect("duration words regex")
});

/// Whether `s` conforms to `format`; `None` when the format is not checked.
pub fn check(format: &str, s: &str) -> Option<bool> {
    Some(match format {
        "date-time" | "datetime" => is_date_time(s),
        "date" => s.parse::<jiff::civil::Date>().is_ok() && s.len() == 10,
        "duration" => GO_DURATION.is_match(s) || WORD_DURATION.is_match(s),
        "byte" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "uuid" | "uuid3" | "uuid4" | "uuid5" => UUID.is_match(s),
        "ipv4" => s.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "hostname" => s.len() <= 253 && HOSTNAME.is_match(s),
        "email" => EMAIL.is_match(s),
        "mac" => MAC.is_match(s),
        _ => return None,
    })
}

fn is_date_time(s: &str) -> bool {
    // RFC 3339 with a time zone; a space is accepted in place of `T` as go-openapi does.
    let normalized = s.replacen(' ', "T", 1);
    normalized.parse::<jiff::Timestamp>().is_ok() && normalized.contains('T')
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => prefix <= 32,
        Ok(IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("date-time", "2026-11-22T11:42:39Z", Some(true)),
            ("date-time", "2026-11-22T11:42:39.123+02:00", Some(true)),
            ("date-time", "2026-11-22", Some(false)),
            ("date-time", "yesterday", Some(false)),
            ("date", "2026-11-22", Some(true)),
            ("date", "2026-13-22", Some(false)),
            ("duration", "1h30m", Some(true)),
            ("duration", "90s", Some(true)),
            ("duration", "1.5h", Some(true)),
            ("duration", "3 days", Some(true)),
            ("duration", "forever", Some(false)),
            ("byte", "aGVsbG8=", Some(true)),
            ("byte", "%%%", Some(false)),
            ("uuid", "995ea079-c9c7-496c-86ec-402a87c0df6a", Some(true)),
            ("uuid", "nope", Some(false)),
            ("ipv4", "10.0.0.1", Some(true)),
            ("ipv4", "10.0.0.300", Some(false)),
            ("ipv6", "::1", Some(true)),
            ("cidr", "10.0.0.0/8", Some(true)),
            ("cidr", "10.0.0.0/33", Some(false)),
            ("hostname", "example.com", Some(true)),
            ("hostname", "-bad", Some(false)),
            ("email", "a@example.com", Some(true)),
            ("mac", "00:11:22:33:44:55", Some(true)),
            ("int32", "anything", None),
            ("unknown-format", "x", None),
        ];
        for (f, s, want) in cases {
            assert_eq!(check(f, s), *want, "{f} {s}");
        }
    }
}
