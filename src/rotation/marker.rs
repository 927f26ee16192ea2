//! The display name that marks a credential as minted by the operator for one rotation resource:
//! `secret-rotator/<namespace>/<name>/r<rotation>`.
//!
//! Invariants:
//! * the marker of one resource is never a prefix of another's: namespaces and names cannot
//!   contain `/`, and a shortened name ends in `~<digest>` (`~` is not allowed in names);
//! * it depends only on namespace and name, which never change for a resource, so a resource
//!   deleted and created again (a GitOps re-sync) recognises the credentials it minted before;
//! * it is at most [`MAX_DISPLAY_NAME`] characters, well within what Entra stores.

use sha2::{Digest, Sha256};

use crate::api::wellknown::{DISPLAY_NAME_PREFIX, hex};

/// Upper bound on the length of a display name the operator writes. Entra documents no limit for
/// `passwordCredential.displayName`; this stays well clear of any plausible one.
pub const MAX_DISPLAY_NAME: usize = 120;

/// Room kept for `/r` and the rotation number.
const ROTATION_SUFFIX_ROOM: usize = 2 + 19;

/// The marker prefix of the resource `namespace`/`name`, ending in `/r`.
pub fn prefix(namespace: &str, name: &str) -> String {
    let fixed = DISPLAY_NAME_PREFIX.len() + 1 + namespace.len() + 1 + ROTATION_SUFFIX_ROOM;
    let room = MAX_DISPLAY_NAME.saturating_sub(fixed).max(16);
    let name = if name.len() <= room {
        name.to_owned()
    } else {
        let digest = hex(&Sha256::digest(name.as_bytes())[..6]);
        format!("{}~{digest}", &name[..room - digest.len() - 1])
    };
    format!("{DISPLAY_NAME_PREFIX}/{namespace}/{name}/r")
}

/// The display name of rotation number `rotation` of the resource `namespace`/`name`.
pub fn display_name(namespace: &str, name: &str, rotation: i64) -> String {
    format!("{}{rotation}", prefix(namespace, name))
}

/// The rotation number a display name carries, when it marks a credential of this resource.
pub fn rotation_of(display_name: Option<&str>, namespace: &str, name: &str) -> Option<i64> {
    let rest = display_name?.strip_prefix(&prefix(namespace, name))?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_resources() {
        let d = display_name("team-a", "my-app", 7);
        assert_eq!(d, "secret-rotator/team-a/my-app/r7");
        assert_eq!(rotation_of(Some(&d), "team-a", "my-app"), Some(7));
        assert_eq!(rotation_of(Some(&d), "team-a", "my-ap"), None);
        assert_eq!(rotation_of(Some(&d), "team-b", "my-app"), None);
        assert_eq!(
            rotation_of(Some("secret-rotator/team-a/my-app/r7x"), "team-a", "my-app"),
            None
        );
        assert_eq!(
            rotation_of(Some("secret-rotator/team-a/my-app/r"), "team-a", "my-app"),
            None
        );
        assert_eq!(
            rotation_of(Some("rotator/ns1/my-app 2026-04-01"), "ns1", "my-app"),
            None
        );
        assert_eq!(rotation_of(None, "team-a", "my-app"), None);
    }

    #[test]
    fn long_names_stay_bounded_and_distinct() {
        let ns = "n".repeat(63);
        let a = format!("{}-a", "x".repeat(250));
        let b = format!("{}-b", "x".repeat(250));
        let (da, db) = (display_name(&ns, &a, i64::MAX), display_name(&ns, &b, i64::MAX));
        assert!(da.len() <= MAX_DISPLAY_NAME, "{} chars", da.len());
        assert_ne!(prefix(&ns, &a), prefix(&ns, &b));
        assert!(!prefix(&ns, &b).starts_with(&prefix(&ns, &a)));
        assert_eq!(rotation_of(Some(&db), &ns, &b), Some(i64::MAX));
        assert_eq!(rotation_of(Some(&db), &ns, &a), None);
    }
}
