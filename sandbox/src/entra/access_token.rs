//! Access tokens the emulator issues: their claims, the RSA key that signs them, and the check
//! Graph applies to a bearer token.
//!
//! Invariant: only tokens signed by this emulator's key, for its Graph resource, inside their
//! `nbf`..`exp` window on the emulator clock, pass [`TokenSigner::verify`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::protocol::GRAPH_APP_ID;
use crate::rsa_key::RsaKeyPair;

/// Claims of an emulator access token (v1.0 shape, as Graph receives them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Audience: the resource (Graph).
    pub aud: String,
    /// Issuer: `https://sts.windows.net/{tid}/`.
    pub iss: String,
    /// Issued at (epoch seconds).
    pub iat: i64,
    /// Not before (epoch seconds).
    pub nbf: i64,
    /// Expiry (epoch seconds).
    pub exp: i64,
    /// Client id of the caller (v1 claim).
    pub appid: String,
    /// Client id of the caller (v2 claim).
    pub azp: String,
    /// Object id of the caller's service principal.
    pub oid: String,
    /// Same as `oid` for app-only tokens.
    pub sub: String,
    /// Tenant id.
    pub tid: String,
    /// Application permissions granted to the service principal; omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// `app` for app-only tokens.
    pub idtyp: String,
    /// Token version.
    pub ver: String,
    /// Unique token id.
    pub uti: String,
}

/// Why Graph refuses a bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenRejection {
    /// Not a JWT at all.
    Unparseable,
    /// Bad signature, wrong audience or missing claims.
    Invalid,
    /// Outside `nbf`..`exp`.
    Expired,
}

/// The emulator's token-signing key.
pub(crate) struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    n: String,
    e: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The signing key could not be created.
#[derive(Debug, thiserror::Error)]
#[error("could not create the emulator's token-signing key: {0}")]
pub struct SigningKeyError(String);

impl TokenSigner {
    /// Generates a fresh RSA-2048 key.
    pub(crate) fn generate() -> Result<Self, SigningKeyError> {
        let key = RsaKeyPair::generate().map_err(SigningKeyError)?;
        let kid = URL_SAFE_NO_PAD.encode(&sha2_256(&key.n)[..12]);
        Ok(Self {
            encoding: key.encoding,
            decoding: key.decoding,
            kid,
            n: URL_SAFE_NO_PAD.encode(key.n),
            e: URL_SAFE_NO_PAD.encode(key.e),
        })
    }

    /// Signs claims into a compact JWT.
    pub(crate) fn sign(&self, claims: &AccessTokenClaims) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        // NB: RS256 signing with a key we generated cannot fail short of a broken crypto library.
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_default()
    }

    /// Checks a bearer token: signature, audience (the Graph resource or Graph's app id) and
    /// lifetime at `now`.
    pub(crate) fn verify(
        &self,
        token: &str,
        graph_resource: &str,
        now: Timestamp,
    ) -> Result<AccessTokenClaims, TokenRejection> {
        if token.split('.').count() != 3 {
            return Err(TokenRejection::Unparseable);
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<AccessTokenClaims>(token, &self.decoding, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidToken
                | jsonwebtoken::errors::ErrorKind::Base64(_) => TokenRejection::Unparseable,
                _ => TokenRejection::Invalid,
            },
        )?;
        let claims = data.claims;
        let aud = claims.aud.trim_end_matches('/');
        if aud != graph_resource.trim_end_matches('/') && aud != GRAPH_APP_ID {
            return Err(TokenRejection::Invalid);
        }
        let now = now.as_second();
        if now < claims.nbf || now >= claims.exp {
            return Err(TokenRejection::Expired);
        }
        Ok(claims)
    }

    /// The public key as a JWKS document (`/{tenant}/discovery/v2.0/keys`).
    pub(crate) fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": self.n, "e": self.e }]
        })
    }
}

fn sha2_256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64, aud: &str) -> AccessTokenClaims {
        AccessTokenClaims {
            aud: aud.into(),
            iss: "https://sts.windows.net/t/".into(),
            iat: now,
            nbf: now,
            exp: now + 3599,
            appid: "a".into(),
            azp: "a".into(),
            oid: "o".into(),
            sub: "o".into(),
            tid: "t".into(),
            roles: vec!["Application.Read.All".into()],
            idtyp: "app".into(),
            ver: "1.0".into(),
            uti: "u".into(),
        }
    }

    #[test]
    fn tokens_verify_only_with_our_key_audience_and_lifetime() {
        let signer = TokenSigner::generate().unwrap();
        let other = TokenSigner::generate().unwrap();
        let g = "https://graph.microsoft.com";
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let token = signer.sign(&claims(now.as_second(), "https://graph.microsoft.com/"));
        assert_eq!(signer.verify(&token, g, now).unwrap().oid, "o");
        assert_eq!(other.verify(&token, g, now), Err(TokenRejection::Invalid));
        let later = Timestamp::from_second(now.as_second() + 3599).unwrap();
        assert_eq!(signer.verify(&token, g, later), Err(TokenRejection::Expired));
        let wrong_aud = signer.sign(&claims(now.as_second(), "https://management.azure.com"));
        assert_eq!(signer.verify(&wrong_aud, g, now), Err(TokenRejection::Invalid));
        assert_eq!(signer.verify("garbage", g, now), Err(TokenRejection::Unparseable));
        assert_eq!(
            signer.jwks()["keys"][0]["kid"],
            serde_json::Value::String(signer.kid.clone())
        );
    }
}
