//! The demo's closing summary: rotations done, downtime (every value a live replica held, probed
//! at Entra throughout), keys minted and revoked, and the final state.
//!
//! Invariant: pure; the verdict "zero downtime" needs probes and no failed one, and a key is an
//! orphan when Entra still accepts it but the rotation's status no longer accounts for it.

use jiff::{SignedDuration, Timestamp};

use super::{
    render::{Style, clock, hint, short_id, span},
    timeline::{Completed, EntraKey},
};
use crate::api::RotationReason;

/// A probe of a replica's secret that Entra refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// When.
    pub at: Timestamp,
    /// The replica.
    pub replica: String,
    /// `env` or `file`.
    pub source: &'static str,
    /// The key it held, by hint.
    pub hint: String,
}

/// What the probes found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Downtime {
    /// Values probed (one per replica, source and look).
    pub probes: u64,
    /// The refused ones.
    pub failures: Vec<Failure>,
}

/// The end state of the rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Final {
    /// `Ready` condition status and reason.
    pub ready: (String, String),
    /// The current key's hint and expiry.
    pub current: Option<(String, Timestamp)>,
    /// When the next rotation is due.
    pub renewal: Option<Timestamp>,
}

/// Everything the summary reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Where times count from.
    pub start: Timestamp,
    /// Now.
    pub now: Timestamp,
    /// `namespace/name` of the Secret.
    pub secret: String,
    /// Rotations that finished.
    pub completed: Vec<Completed>,
    /// The probes.
    pub downtime: Downtime,
    /// Every key the application has had at Entra.
    pub keys: Vec<EntraKey>,
    /// Key ids the rotation's status accounts for (current, previous, the one in flight).
    pub tracked: Vec<String>,
    /// The final state.
    pub end: Final,
}

impl Summary {
    /// Whether consumers never held a secret Entra refused (and were actually probed).
    pub fn zero_downtime(&self) -> bool {
        self.downtime.probes > 0 && self.downtime.failures.is_empty()
    }

    /// Keys Entra still accepts that the rotation no longer accounts for: left behind, they
    /// would stay valid until they expire.
    pub fn orphans(&self) -> Vec<&EntraKey> {
        self.keys
            .iter()
            .filter(|k| !k.revoked && !self.tracked.contains(&k.key_id))
            .collect()
    }

    /// Whether the demo proved its point: zero downtime and no orphaned key.
    pub fn succeeded(&self) -> bool {
        self.zero_downtime() && self.orphans().is_empty()
    }

    /// The summary's lines.
    pub fn lines(&self, style: Style) -> Vec<String> {
        let mut out = vec![
            String::new(),
            style.bold(&format!(
                "Summary ({} of sandbox time)",
                span(self.now.duration_since(self.start))
            )),
        ];
        let row = |label: &str, text: String| format!("  {label:<12} {text}");

        let rotated: Vec<&Completed> = self
            .completed
            .iter()
            .filter(|c| c.reason != RotationReason::Initial)
            .collect();
        let durations: Vec<SignedDuration> = rotated.iter().map(|c| c.took).collect();
        let range = match (durations.iter().min(), durations.iter().max()) {
            (Some(a), Some(b)) if a == b => format!(", each in {}", span(*a)),
            (Some(a), Some(b)) => format!(", each in {}–{}", span(*a), span(*b)),
            _ => String::new(),
        };
        let initial = if self.completed.iter().any(|c| c.reason == RotationReason::Initial) {
            " after the first key was issued"
        } else {
            ""
        };
        out.push(row(
            "rotations",
            format!(
                "{} done{initial} (rotation {}){range}",
                rotated.len(),
                rotated.iter().map(|c| c.id.to_string()).collect::<Vec<_>>().join(", ")
            ),
        ));

        let d = &self.downtime;
        if self.zero_downtime() {
            out.push(row(
                "downtime",
                style.green(&format!(
                    "none: {} probes of every secret a live replica held (env and file), each accepted by Entra",
                    d.probes
                )),
            ));
        } else if d.probes == 0 {
            out.push(row("downtime", style.red("unknown: no replica held a secret to probe")));
        } else {
            out.push(row(
                "downtime",
                style.red(&format!(
                    "{} of {} probes refused by Entra",
                    d.failures.len(),
                    d.probes
                )),
            ));
            for f in d.failures.iter().take(5) {
                out.push(row(
                    "",
                    style.red(&format!(
                        "at {}: {} held {} ({}), which Entra refused",
                        clock(self.start, f.at),
                        f.replica,
                        hint(&f.hint),
                        f.source
                    )),
                ));
            }
        }

        let revoked = self.keys.iter().filter(|k| k.revoked).count();
        let valid: Vec<String> = self
            .keys
            .iter()
            .filter(|k| !k.revoked)
            .map(|k| hint(&k.hint))
            .collect();
        out.push(row(
            "keys",
            format!(
                "{} minted, {revoked} revoked; valid at Entra now: {}",
                self.keys.len(),
                if valid.is_empty() {
                    "none".to_owned()
                } else {
                    valid.join(", ")
                }
            ),
        ));
        let orphans = self.orphans();
        if orphans.is_empty() {
            out.push(row(
                "orphans",
                style.green("none: every key Entra still accepts is one the rotation tracks"),
            ));
        } else {
            out.push(row(
                "orphans",
                style.red(&format!(
                    "{}: valid at Entra but tracked by no rotation ({})",
                    orphans.len(),
                    orphans
                        .iter()
                        .map(|k| format!("{} keyId {}", hint(&k.hint), short_id(&k.key_id)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ));
        }

        let (ready, reason) = &self.end.ready;
        let mut state = format!("Ready={ready} ({reason})");
        if let Some((h, expires)) = &self.end.current {
            state.push_str(&format!(
                "; Secret {} holds {}, expires in {}",
                self.secret,
                hint(h),
                span(expires.duration_since(self.now))
            ));
        }
        if let Some(next) = self.end.renewal {
            state.push_str(&format!("; next rotation in {}", span(next.duration_since(self.now))));
        }
        out.push(row("final state", state));
        out.push(row(
            "secrets",
            "none printed: keys appear by their hint, the first three characters Entra shows publicly".to_owned(),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(s)
    }

    fn summary(failures: Vec<Failure>, probes: u64) -> Summary {
        Summary {
            start: t(0),
            now: t(100),
            secret: "demo/creds".into(),
            completed: vec![
                Completed {
                    id: 1,
                    reason: RotationReason::Initial,
                    took: SignedDuration::from_secs(10),
                },
                Completed {
                    id: 2,
                    reason: RotationReason::Scheduled,
                    took: SignedDuration::from_secs(22),
                },
                Completed {
                    id: 3,
                    reason: RotationReason::Scheduled,
                    took: SignedDuration::from_secs(25),
                },
            ],
            downtime: Downtime { probes, failures },
            keys: vec![
                EntraKey {
                    key_id: "a".into(),
                    hint: "Aa1".into(),
                    expires_at: t(60),
                    revoked: true,
                },
                EntraKey {
                    key_id: "c".into(),
                    hint: "Cc3".into(),
                    expires_at: t(140),
                    revoked: false,
                },
            ],
            tracked: vec!["c".into()],
            end: Final {
                ready: ("True".into(), "UpToDate".into()),
                current: Some(("Cc3".into(), t(140))),
                renewal: Some(t(110)),
            },
        }
    }

    #[test]
    fn a_clean_run_reads_as_zero_downtime() {
        let s = summary(vec![], 1234);
        assert!(s.zero_downtime());
        let text = s.lines(Style { color: false }).join("\n");
        assert!(text.contains("rotations    2 done after the first key was issued (rotation 2, 3), each in 22s–25s"), "{text}");
        assert!(text.contains("downtime     none: 1234 probes"), "{text}");
        assert!(text.contains("keys         2 minted, 1 revoked; valid at Entra now: Cc3…"), "{text}");
        assert!(text.contains("orphans      none"), "{text}");
        assert!(s.succeeded());
        assert!(text.contains("final state  Ready=True (UpToDate); Secret demo/creds holds Cc3…, expires in 40s; next rotation in 10s"), "{text}");
    }

    #[test]
    fn refused_probes_or_no_probes_are_not_zero_downtime() {
        assert!(!summary(vec![], 0).zero_downtime());
        let s = summary(
            vec![Failure {
                at: t(61),
                replica: "web-x".into(),
                source: "env",
                hint: "Aa1".into(),
            }],
            50,
        );
        assert!(!s.zero_downtime());
        let text = s.lines(Style { color: false }).join("\n");
        assert!(text.contains("1 of 50 probes refused by Entra"), "{text}");
        assert!(text.contains("at 01:01: web-x held Aa1… (env), which Entra refused"), "{text}");
    }

    #[test]
    fn a_valid_key_no_rotation_tracks_is_an_orphan() {
        let mut s = summary(vec![], 10);
        s.keys.push(EntraKey {
            key_id: "dddddddd-1111".into(),
            hint: "Dd4".into(),
            expires_at: t(150),
            revoked: false,
        });
        assert!(s.zero_downtime());
        assert_eq!(s.orphans().len(), 1);
        assert!(!s.succeeded());
        let text = s.lines(Style { color: false }).join("\n");
        assert!(
            text.contains("orphans      1: valid at Entra but tracked by no rotation (Dd4… keyId dddddddd)"),
            "{text}"
        );
        // A key in flight (tracked) is not an orphan; a revoked one never is.
        s.tracked.push("dddddddd-1111".into());
        assert!(s.succeeded());
    }
}
