//! Service-account tokens: the per-server RS256 signing key (published as a JWKS), the claims a
//! real cluster puts in a bound token, and the pure checks a presented token must pass.
//!
//! Invariant: [`SigningKey::verify`] accepts only a token signed by this key whose issuer is the
//! server's, whose audience intersects the accepted audiences and that is inside its
//! `nbf`..`exp` window at the injected `now` (with kube-apiserver's one-minute leeway). Whether
//! the ServiceAccount still exists is the caller's check, since it needs the store.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::rsa_key::RsaKeyPair;

/// Leeway on `exp` and `nbf` (go-jose's `DefaultLeeway`, which kube-apiserver's validator uses).
pub const LEEWAY_SECONDS: i64 = 60;

/// The object a claim names: `{name, uid}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectClaim {
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

/// The private `kubernetes.io` claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    /// The ServiceAccount's namespace.
    pub namespace: String,
    /// The ServiceAccount.
    pub serviceaccount: ObjectClaim,
    /// The Secret the token is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectClaim>,
    /// The Pod the token is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectClaim>,
    /// The Node the token is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectClaim>,
}

/// Claims of a bound service-account token, as kube-apiserver issues them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountClaims {
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry (epoch seconds).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Issuer URL.
    pub iss: String,
    /// Unique token id.
    pub jti: String,
    /// Namespace, ServiceAccount and bound object.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    /// Not before.
    pub nbf: i64,
    /// `system:serviceaccount:<ns>:<name>`.
    pub sub: String,
}

impl ServiceAccountClaims {
    /// The bound object (kind, claim), if the token is bound to one.
    pub fn bound_object(&self) -> Option<(&'static str, &ObjectClaim)> {
        let k = &self.kubernetes;
        k.secret
            .as_ref()
            .map(|c| ("Secret", c))
            .or_else(|| k.pod.as_ref().map(|c| ("Pod", c)))
            .or_else(|| k.node.as_ref().map(|c| ("Node", c)))
    }
}

/// Why a token was not accepted (all become 401 `Unauthorized`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Not a JWT, or not signed by this server's key.
    #[error("token is not signed by this server's service-account key")]
    Signature,
    /// Issued by another issuer.
    #[error("token issuer {0:?} is not this server's issuer")]
    Issuer(String),
    /// None of its audiences is accepted.
    #[error("token audiences {0:?} are not accepted by this server")]
    Audience(Vec<String>),
    /// Past `exp` (plus leeway).
    #[error("service account token has expired")]
    Expired,
    /// Before `nbf` (minus leeway).
    #[error("service account token is not valid yet")]
    NotYetValid,
}

/// The server's token-signing key. NB: its Debug output shows only the key id.
pub struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    n: String,
    e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates an RSA-2048 key; its `kid` is the unpadded base64url SHA-256 of the public key's
    /// DER (SubjectPublicKeyInfo), as kube-apiserver derives it.
    pub fn generate() -> Result<Self, String> {
        let key = RsaKeyPair::generate()
            .map_err(|e| format!("cannot create the service-account signing key: {e}"))?;
        use sha2::Digest;
        let kid = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&key.spki));
        Ok(SigningKey {
            encoding: key.encoding,
            decoding: key.decoding,
            kid,
            n: URL_SAFE_NO_PAD.encode(key.n),
            e: URL_SAFE_NO_PAD.encode(key.e),
        })
    }

    /// The key id (`kid` header of every token).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as served at `/openid/v1/jwks`.
    pub fn jwks(&self) -> Value {
        json!({"keys": [{"use": "sig", "kty": "RSA", "kid": self.kid, "alg": "RS256", "n": self.n, "e": self.e}]})
    }

    /// Signs claims into a compact JWT.
    pub fn sign(&self, claims: &ServiceAccountClaims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| format!("cannot sign token: {e}"))
    }

    /// Verifies a presented token: signature, issuer, audience and lifetime at `now`.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        accepted_audiences: &[String],
        now: Timestamp,
    ) -> Result<ServiceAccountClaims, TokenRejection> {
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<ServiceAccountClaims>(token, &self.decoding, &v)
            .map_err(|_| TokenRejection::Signature)?
            .claims;
        check_claims(&claims, issuer, accepted_audiences, now)?;
        Ok(claims)
    }
}

/// The pure claim checks of [`SigningKey::verify`].
pub fn check_claims(
    claims: &ServiceAccountClaims,
    issuer: &str,
    accepted_audiences: &[String],
    now: Timestamp,
) -> Result<(), TokenRejection> {
    if claims.iss != issuer {
        return Err(TokenRejection::Issuer(claims.iss.clone()));
    }
    if !claims.aud.iter().any(|a| accepted_audiences.contains(a)) {
        return Err(TokenRejection::Audience(claims.aud.clone()));
    }
    let now = now.as_second();
    if now > claims.exp + LEEWAY_SECONDS {
        return Err(TokenRejection::Expired);
    }
    if now + LEEWAY_SECONDS < claims.nbf {
        return Err(TokenRejection::NotYetValid);
    }
    Ok(())
}

/// What a token is issued for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSpec {
    /// Issuer URL.
    pub issuer: String,
    /// Namespace of the ServiceAccount.
    pub namespace: String,
    /// ServiceAccount name.
    pub name: String,
    /// ServiceAccount uid.
    pub uid: String,
    /// Audiences (non-empty).
    pub audiences: Vec<String>,
    /// Lifetime in seconds.
    pub expiration_seconds: i64,
    /// Bound object: (kind, claim).
    pub bound: Option<(String, ObjectClaim)>,
}

/// The claims of a new token issued at `now` with token id `jti`.
pub fn claims_for(spec: &TokenSpec, now: Timestamp, jti: &str) -> ServiceAccountClaims {
    let now = now.as_second();
    let mut kubernetes = KubernetesClaim {
        namespace: spec.namespace.clone(),
        serviceaccount: ObjectClaim {
            name: spec.name.clone(),
            uid: spec.uid.clone(),
        },
        secret: None,
        pod: None,
        node: None,
    };
    match spec.bound.clone() {
        Some((kind, c)) if kind == "Secret" => kubernetes.secret = Some(c),
        Some((kind, c)) if kind == "Pod" => kubernetes.pod = Some(c),
        Some((kind, c)) if kind == "Node" => kubernetes.node = Some(c),
        _ => {}
    }
    ServiceAccountClaims {
        aud: spec.audiences.clone(),
        exp: now + spec.expiration_seconds,
        iat: now,
        iss: spec.issuer.clone(),
        jti: jti.to_string(),
        kubernetes,
        nbf: now,
        sub: super::rbac::service_account_user(&spec.namespace, &spec.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TokenSpec {
        TokenSpec {
            issuer: "https://kubernetes.default.svc.cluster.local".into(),
            namespace: "ns".into(),
            name: "sa".into(),
            uid: "u1".into(),
            audiences: vec!["api".into()],
            expiration_seconds: 3600,
            bound: None,
        }
    }

    #[test]
    fn issued_tokens_verify_with_the_key_issuer_audience_and_lifetime() {
        let key = SigningKey::generate().unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let claims = claims_for(&spec(), now, "j1");
        assert_eq!(claims.sub, "system:serviceaccount:ns:sa");
        assert_eq!(claims.exp - claims.iat, 3600);
        let token = key.sign(&claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        assert_eq!(header.alg, Algorithm::RS256);
        let iss = &spec().issuer;
        let aud = vec!["api".to_string()];
        assert_eq!(key.verify(&token, iss, &aud, now).unwrap(), claims);
        // Wrong issuer, audience, key; lifetime edges with the one-minute leeway.
        assert!(matches!(
            key.verify(&token, "https://other", &aud, now),
            Err(TokenRejection::Issuer(_))
        ));
        assert!(matches!(
            key.verify(&token, iss, &["x".to_string()], now),
            Err(TokenRejection::Audience(_))
        ));
        let other = SigningKey::generate().unwrap();
        assert_eq!(
            other.verify(&token, iss, &aud, now),
            Err(TokenRejection::Signature)
        );
        assert_eq!(
            key.verify("garbage", iss, &aud, now),
            Err(TokenRejection::Signature)
        );
        let at = |s: i64| Timestamp::from_second(now.as_second() + s).unwrap();
        assert!(key.verify(&token, iss, &aud, at(3600 + 60)).is_ok());
        assert_eq!(
            key.verify(&token, iss, &aud, at(3600 + 61)),
            Err(TokenRejection::Expired)
        );
        assert_eq!(
            key.verify(&token, iss, &aud, at(-61)),
            Err(TokenRejection::NotYetValid)
        );
    }

    #[test]
    fn jwks_holds_the_public_key_under_its_kid() {
        let key = SigningKey::generate().unwrap();
        let jwks = key.jwks();
        assert_eq!(jwks["keys"][0]["kid"], key.kid());
        assert_eq!(jwks["keys"][0]["e"], "AQAB");
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        assert!(DecodingKey::from_jwk(&jwk).is_ok());
        assert!(!format!("{key:?}").contains(&key.n));
    }

    #[test]
    fn bound_object_claims_are_named_by_kind() {
        let mut s = spec();
        s.bound = Some((
            "Secret".into(),
            ObjectClaim {
                name: "s".into(),
                uid: "u2".into(),
            },
        ));
        let c = claims_for(&s, Timestamp::UNIX_EPOCH, "j");
        assert_eq!(
            c.bound_object().map(|(k, o)| (k, o.name.as_str())),
            Some(("Secret", "s"))
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["kubernetes.io"]["secret"]["uid"], "u2");
        assert!(v["kubernetes.io"].get("pod").is_none());
    }
}
