//! The RSA-2048 key pairs the stand-ins sign RS256 JWTs with (the API server's service-account
//! tokens, the Entra emulator's access tokens), and the PEM armour `jsonwebtoken` reads keys in.
//!
//! Invariant: a [`RsaKeyPair`] holds matching halves: tokens its `encoding` key signs verify with
//! its `decoding` key, and `n`/`e` are that public key's JWK components.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{DecodingKey, EncodingKey};

/// A freshly generated RSA-2048 key pair, in the forms the token signers need.
pub(crate) struct RsaKeyPair {
    /// The private key, for signing.
    pub(crate) encoding: EncodingKey,
    /// The public key, for verifying.
    pub(crate) decoding: DecodingKey,
    /// The public key's DER (SubjectPublicKeyInfo).
    pub(crate) spki: Vec<u8>,
    /// The modulus, big-endian without leading zeros.
    pub(crate) n: Vec<u8>,
    /// The public exponent, big-endian without leading zeros.
    pub(crate) e: Vec<u8>,
}

impl RsaKeyPair {
    /// Generates a key pair; the error says why the crypto library refused.
    pub(crate) fn generate() -> Result<Self, String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|e| err(&e))?;
        let pkcs8 = pair.as_der().map_err(|e| err(&e))?;
        let encoding =
            EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).map_err(|e| err(&e))?;
        let public = pair.public_key();
        let spki = public.as_der().map_err(|e| err(&e))?.as_ref().to_vec();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        Ok(Self {
            encoding,
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            spki,
            n,
            e,
        })
    }
}

/// Wraps DER in PEM armour (`-----BEGIN <label>-----`, base64 in lines of 64).
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, Header, Validation};

    use super::*;

    #[test]
    fn what_the_private_half_signs_the_public_half_verifies() {
        let key = RsaKeyPair::generate().unwrap();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &serde_json::json!({"sub": "x"}),
            &key.encoding,
        )
        .unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key.decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "x");
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let text = pem("TEST", &[7; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN TEST-----"));
        assert_eq!(lines.last(), Some(&"-----END TEST-----"));
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[1..lines.len() - 1].concat(), STANDARD.encode([7; 100]));
    }
}
