//! Client secrets: generation and the one-way fingerprint the emulator keeps instead of the value.
//!
//! Invariant: the emulator never stores a secret value. It keeps a SHA-256 fingerprint to compare
//! presented secrets against, and hands the value out exactly once, wrapped in a
//! [`SecretString`], so it cannot reach the audit log, tracing or `Debug` output.

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::protocol::{SECRET_LENGTH, SECRET_VERSION_MARKER};

/// Characters of generated secrets. \[inf: what current Entra secrets contain\]
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";

/// The SHA-256 of a secret: enough to recognise it, useless to recover it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SecretFingerprint([u8; 32]);

impl std::fmt::Debug for SecretFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretFingerprint(..)")
    }
}

impl SecretFingerprint {
    /// Fingerprints a presented secret.
    pub(crate) fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }
}

/// A freshly generated secret: its value, its hint and its fingerprint.
pub(crate) struct GeneratedSecret {
    pub(crate) value: SecretString,
    pub(crate) hint: String,
    pub(crate) fingerprint: SecretFingerprint,
}

/// Generates a random 40-character secret whose characters 4–6 are the version marker.
pub(crate) fn generate(rng: &mut impl Rng) -> GeneratedSecret {
    let mut value = String::with_capacity(SECRET_LENGTH);
    let mut push_random = |value: &mut String, n: usize| {
        for _ in 0..n {
            value.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
        }
    };
    push_random(&mut value, 3);
    value.push_str(SECRET_VERSION_MARKER);
    push_random(&mut value, SECRET_LENGTH - 3 - SECRET_VERSION_MARKER.len());
    let value = SecretString::from(value);
    let exposed = value.expose_secret();
    GeneratedSecret {
        hint: exposed.chars().take(3).collect(),
        fingerprint: SecretFingerprint::of(exposed),
        value,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn secrets_are_forty_characters_with_hint_and_marker() {
        let mut rng = StdRng::seed_from_u64(7);
        let a = generate(&mut rng);
        let b = generate(&mut rng);
        let value = a.value.expose_secret();
        assert_eq!(value.len(), 40);
        assert_eq!(&value[3..6], "8Q~");
        assert_eq!(a.hint, value[..3]);
        assert_ne!(value, b.value.expose_secret());
        assert_eq!(a.fingerprint, SecretFingerprint::of(value));
        assert!(!format!("{:?}", a.fingerprint).contains(value));
    }
}
