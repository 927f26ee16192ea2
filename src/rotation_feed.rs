//! What the followers of the rotation feed share: the controller's rotation index and the metrics'
//! rotation series both follow every watch event of the `ClientSecretRotation` watcher and every
//! status write of the operator's own, so both key a rotation the same way and agree on which of
//! two versions of it is the newer.
//!
//! Invariant: a version is only refused as older when both `resourceVersion`s parse as numbers (as
//! kube-apiserver's do) and the candidate's is smaller; anything else (an opaque or missing
//! version) is taken, so an unusual server never freezes a follower.

use crate::api::ClientSecretRotation;

/// A rotation's key in a follower's state: its namespace and name.
pub(crate) type RotationKey = (String, String);

/// The key of `csr`, or `None` when it has no namespace or no name.
pub(crate) fn key_of(csr: &ClientSecretRotation) -> Option<RotationKey> {
    Some((csr.metadata.namespace.clone()?, csr.metadata.name.clone()?))
}

/// Whether a version with `resourceVersion` `candidate` may replace one with `current`.
pub(crate) fn newer_or_equal(candidate: Option<&str>, current: Option<&str>) -> bool {
    match (
        candidate.and_then(|c| c.parse::<u64>().ok()),
        current.and_then(|c| c.parse::<u64>().ok()),
    ) {
        (Some(c), Some(cur)) => c >= cur,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_smaller_numeric_version_is_older() {
        assert!(newer_or_equal(Some("7"), Some("7")));
        assert!(newer_or_equal(Some("8"), Some("7")));
        assert!(!newer_or_equal(Some("6"), Some("7")));
        // Numbers, not strings: "10" is newer than "9".
        assert!(newer_or_equal(Some("10"), Some("9")));
        assert!(newer_or_equal(Some("opaque"), Some("7")));
        assert!(newer_or_equal(None, Some("7")));
        assert!(newer_or_equal(Some("7"), None));
    }
}
