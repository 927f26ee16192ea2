//! The demo's timing, from the command line: how long each secret lives, when the operator renews
//! it, how long the previous one overlaps, and how fast time runs.
//!
//! Invariant: a [`Timing`] always leaves the operator room to finish a rotation (verify, write,
//! roll out, overlap, revoke) before the next one is due: renewal at half the lifetime, overlap at
//! most a quarter of it.

use jiff::SignedDuration;

use crate::api::GoDuration;

/// Shortest lifetime the CRD accepts.
pub const MIN_LIFETIME: SignedDuration = SignedDuration::from_secs(60);
/// Longest lifetime the demo accepts (it is a demo: a day is already long to watch).
pub const MAX_LIFETIME: SignedDuration = SignedDuration::from_hours(24);

/// Why the timing flags cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// Not a duration.
    #[error("{flag}: {detail}")]
    NotADuration {
        /// The flag.
        flag: &'static str,
        /// Why.
        detail: String,
    },
    /// The lifetime is out of range.
    #[error("--lifetime {0} is out of range: use 1m (the shortest the CRD accepts) to 24h")]
    Lifetime(String),
    /// `--timeout` is zero or negative.
    #[error("--timeout {0} must be longer than zero")]
    Timeout(String),
    /// The overlap leaves no room.
    #[error(
        "--overlap {overlap} is too long for --lifetime {lifetime}: use at most a quarter of the lifetime ({max}), so each rotation finishes before the next is due"
    )]
    Overlap {
        /// As given.
        overlap: String,
        /// As given.
        lifetime: String,
        /// The longest allowed.
        max: String,
    },
}

/// The rotation's schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Lifetime of each secret.
    pub lifetime: SignedDuration,
    /// The operator starts a rotation this long before the current secret expires.
    pub renew_before: SignedDuration,
    /// The previous secret stays valid this long after every replica moved.
    pub overlap: SignedDuration,
}

fn parse(flag: &'static str, text: &str) -> Result<SignedDuration, TimingError> {
    GoDuration::new(text)
        .to_signed()
        .map_err(|e| TimingError::NotADuration {
            flag,
            detail: e.to_string(),
        })
}

impl Timing {
    /// The timing for `--lifetime` and `--overlap` (Go durations such as `1m`, `90s`, `10s`).
    pub fn from_flags(lifetime: &str, overlap: &str) -> Result<Self, TimingError> {
        let lifetime_d = parse("--lifetime", lifetime)?;
        let overlap_d = parse("--overlap", overlap)?;
        if lifetime_d < MIN_LIFETIME || lifetime_d > MAX_LIFETIME {
            return Err(TimingError::Lifetime(lifetime.to_owned()));
        }
        // Whole seconds: what the CRD's durations and the status's timestamps use.
        let lifetime_d = SignedDuration::from_secs(lifetime_d.as_secs());
        let max_overlap = SignedDuration::from_secs(lifetime_d.as_secs() / 4);
        if overlap_d > max_overlap {
            return Err(TimingError::Overlap {
                overlap: overlap.to_owned(),
                lifetime: lifetime.to_owned(),
                max: go(max_overlap),
            });
        }
        Ok(Self {
            lifetime: lifetime_d,
            renew_before: SignedDuration::from_secs(lifetime_d.as_secs() / 2),
            overlap: SignedDuration::from_secs(overlap_d.as_secs()),
        })
    }
}

/// The real time `--timeout` allows (a Go duration, longer than zero).
pub fn parse_timeout(text: &str) -> Result<std::time::Duration, TimingError> {
    let d = parse("--timeout", text)?;
    if d <= SignedDuration::ZERO {
        return Err(TimingError::Timeout(text.to_owned()));
    }
    std::time::Duration::try_from(d).map_err(|_| TimingError::Timeout(text.to_owned()))
}

/// A whole-second duration the way Go (and the CRD) writes it, shortest form: `1m`, `90s`, `2h`.
pub fn go(d: SignedDuration) -> String {
    let s = d.as_secs().max(0);
    match s {
        0 => "0s".to_owned(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_at_half_the_lifetime() {
        let t = Timing::from_flags("1m", "10s").unwrap();
        assert_eq!(t.lifetime, SignedDuration::from_secs(60));
        assert_eq!(t.renew_before, SignedDuration::from_secs(30));
        assert_eq!(t.overlap, SignedDuration::from_secs(10));
        let t = Timing::from_flags("1m30s", "0s").unwrap();
        assert_eq!(t.renew_before, SignedDuration::from_secs(45));
    }

    #[test]
    fn bad_flags_say_what_to_use() {
        assert!(matches!(
            Timing::from_flags("90d", "10s"),
            Err(TimingError::NotADuration { flag: "--lifetime", .. })
        ));
        assert_eq!(
            Timing::from_flags("30s", "5s").unwrap_err().to_string(),
            "--lifetime 30s is out of range: use 1m (the shortest the CRD accepts) to 24h"
        );
        let e = Timing::from_flags("1m", "20s").unwrap_err().to_string();
        assert!(e.contains("at most a quarter of the lifetime (15s)"), "{e}");
        assert!(Timing::from_flags("1m", "15s").is_ok());
        assert!(Timing::from_flags("25h", "1m").is_err());
    }

    #[test]
    fn the_timeout_is_a_positive_go_duration() {
        assert_eq!(parse_timeout("90s"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(parse_timeout("1m30s"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(
            parse_timeout("0s").unwrap_err().to_string(),
            "--timeout 0s must be longer than zero"
        );
        assert!(matches!(
            parse_timeout("soon"),
            Err(TimingError::NotADuration { flag: "--timeout", .. })
        ));
    }

    #[test]
    fn durations_print_in_their_shortest_go_form() {
        assert_eq!(go(SignedDuration::from_secs(60)), "1m");
        assert_eq!(go(SignedDuration::from_secs(90)), "90s");
        assert_eq!(go(SignedDuration::from_secs(7200)), "2h");
        assert_eq!(go(SignedDuration::ZERO), "0s");
    }
}
