//! Certificate client assertions: a JWT signed with the key of a certificate registered on the
//! operator's application [doc: E-cert].
//!
//! Invariants:
//! * header: `alg` PS256 (default) or RS256, `typ` JWT, `x5t#S256` = base64url(SHA-256(DER of the
//!   leaf certificate)), and `x5c` only when asked for;
//! * claims: `aud` = the exact token URL, `iss` = `sub` = client id, a fresh random `jti`,
//!   `nbf` = `iat` = now, `exp` = now + [`ASSERTION_LIFETIME`];
//! * the private key is parsed once, at construction, so a bad key is a configuration error at
//!   start-up rather than a failure at the first rotation; it is never printed.

use std::{fmt, time::Duration};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::provider::{
    ProviderError, Reason,
    entra::config::{AssertionAlgorithm, CertificateSignIn},
};

/// How long an assertion is valid (the reference advises 5–10 minutes).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Builds client assertions for one certificate.
pub struct CertificateAssertion {
    client_id: String,
    audience: String,
    algorithm: Algorithm,
    thumbprint_s256: String,
    chain: Option<Vec<String>>,
    key: EncodingKey,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("algorithm", &self.algorithm)
            .field("x5t#S256", &self.thumbprint_s256)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(Reason::InvalidConfiguration, message)
}

impl CertificateAssertion {
    /// Parses the certificate and key; `token_url` is the assertion's audience.
    pub fn new(config: &CertificateSignIn, token_url: &str) -> Result<Self, ProviderError> {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(config.certificate_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| invalid(format!("certificate sign-in: the certificate is not PEM ({e})")))?;
        let leaf = certs
            .first()
            .ok_or_else(|| invalid("certificate sign-in: no certificate in the PEM".into()))?;
        // NB: the jsonwebtoken error text does not include key material.
        let key =
            EncodingKey::from_rsa_pem(config.private_key_pem.expose_secret().as_bytes()).map_err(|e| {
                invalid(format!(
                    "certificate sign-in: the private key is not an RSA PEM key ({e})"
                ))
            })?;
        Ok(Self {
            client_id: config.client_id.clone(),
            audience: token_url.to_owned(),
            algorithm: match config.algorithm {
                AssertionAlgorithm::Ps256 => Algorithm::PS256,
                AssertionAlgorithm::Rs256 => Algorithm::RS256,
            },
            thumbprint_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(leaf.as_ref())),
            chain: config
                .send_certificate_chain
                .then(|| certs.iter().map(|c| STANDARD.encode(c.as_ref())).collect()),
            key,
        })
    }

    /// The `x5t#S256` thumbprint sent in the header.
    pub fn thumbprint_s256(&self) -> &str {
        &self.thumbprint_s256
    }

    /// A signed assertion valid from `now`.
    pub fn build(&self, now: Timestamp) -> Result<SecretString, ProviderError> {
        let mut header = Header::new(self.algorithm);
        header.x5t_s256 = Some(self.thumbprint_s256.clone());
        header.x5c = self.chain.clone();
        let issued = now.as_second();
        let claims = Claims {
            aud: &self.audience,
            iss: &self.client_id,
            sub: &self.client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: issued,
            iat: issued,
            exp: issued + ASSERTION_LIFETIME.as_secs() as i64,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| invalid(format!("certificate sign-in: cannot sign the assertion ({e})")))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    use super::*;

    const CERT: &str = include_str!("../../../../tests/fixtures/entra/operator-cert.pem");
    const KEY: &str = include_str!("../../../../tests/fixtures/entra/operator-key.pem");
    const OTHER_KEY: &str = include_str!("../../../../tests/fixtures/entra/oidc-issuer-key.pem");
    const URL: &str = "https://login.microsoftonline.com/t/oauth2/v2.0/token";

    fn sign_in(algorithm: AssertionAlgorithm, chain: bool) -> CertificateSignIn {
        CertificateSignIn {
            client_id: "op-client".into(),
            certificate_pem: CERT.into(),
            private_key_pem: KEY.into(),
            algorithm,
            send_certificate_chain: chain,
        }
    }

    /// The certificate's public key, read back from its private key as a JWK.
    fn public_key() -> DecodingKey {
        let key = EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap();
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        DecodingKey::from_jwk(&jwk).unwrap()
    }

    #[derive(serde::Deserialize, Debug)]
    struct Seen {
        aud: String,
        iss: String,
        sub: String,
        jti: String,
        nbf: i64,
        exp: i64,
    }

    #[test]
    fn ps256_assertion_has_the_documented_header_and_claims() {
        let assertion = CertificateAssertion::new(&sign_in(AssertionAlgorithm::Ps256, false), URL).unwrap();
        let now = Timestamp::now();
        let jwt = assertion.build(now).unwrap();
        let header = decode_header(jwt.expose_secret()).unwrap();
        assert_eq!(header.alg, Algorithm::PS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.x5c, None);
        let der = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
        assert_eq!(
            header.x5t_s256.as_deref(),
            Some(URL_SAFE_NO_PAD.encode(Sha256::digest(der.as_ref())).as_str())
        );
        let mut validation = Validation::new(Algorithm::PS256);
        validation.set_audience(&[URL]);
        let claims = decode::<Seen>(jwt.expose_secret(), &public_key(), &validation)
            .unwrap()
            .claims;
        assert_eq!(
            (claims.aud.as_str(), claims.iss.as_str(), claims.sub.as_str()),
            (URL, "op-client", "op-client")
        );
        assert_eq!(claims.nbf, now.as_second());
        assert_eq!(claims.exp - claims.nbf, 300);
        let again = assertion.build(now).unwrap();
        let second = decode::<Seen>(again.expose_secret(), &public_key(), &validation)
            .unwrap()
            .claims;
        assert_ne!(claims.jti, second.jti, "every assertion has a fresh jti");
    }

    #[test]
    fn rs256_with_chain() {
        let assertion = CertificateAssertion::new(&sign_in(AssertionAlgorithm::Rs256, true), URL).unwrap();
        let jwt = assertion.build(Timestamp::now()).unwrap();
        let header = decode_header(jwt.expose_secret()).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.x5c.map(|c| c.len()), Some(1));
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[URL]);
        assert!(decode::<Seen>(jwt.expose_secret(), &public_key(), &validation).is_ok());
    }

    #[test]
    fn bad_material_is_a_configuration_error_without_the_key_in_it() {
        let mut config = sign_in(AssertionAlgorithm::Ps256, false);
        config.private_key_pem =
            "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n".into();
        let err = CertificateAssertion::new(&config, URL).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidConfiguration);
        assert!(!err.to_string().contains("bm90IGEga2V5"));
        let mut config = sign_in(AssertionAlgorithm::Ps256, false);
        config.certificate_pem = "no pem here".into();
        assert_eq!(
            CertificateAssertion::new(&config, URL).unwrap_err().reason,
            Reason::InvalidConfiguration
        );
        // A key that does not match the certificate is only detectable by Entra (AADSTS700027).
        let mut config = sign_in(AssertionAlgorithm::Ps256, false);
        config.private_key_pem = OTHER_KEY.into();
        assert!(CertificateAssertion::new(&config, URL).is_ok());
        assert!(
            !format!(
                "{:?}",
                CertificateAssertion::new(&sign_in(AssertionAlgorithm::Ps256, false), URL).unwrap()
            )
            .contains("PRIVATE")
        );
    }
}
