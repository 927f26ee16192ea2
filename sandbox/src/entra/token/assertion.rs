//! Client assertions: certificate-signed JWTs (`iss` = `sub` = client id, signed by a registered
//! certificate's key) and federated tokens (signed by a trusted external issuer and matching a
//! federated identity credential on the application).
//!
//! Invariant: an assertion is accepted only after its signature verifies against a key the
//! emulator was given through the admin interface; claims are never trusted before that, except
//! to pick which key to try and to word error messages.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::Value;

use super::error::TokenError;
use crate::entra::directory::{DirObject, Directory, ObjectKind};
use crate::entra::protocol::{ASSERTION_CLOCK_SKEW, aadsts};

/// Which kind of assertion was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accepted {
    Certificate,
    Federated,
}

fn malformed() -> TokenError {
    TokenError::new(aadsts::MALFORMED_ASSERTION, aadsts::MALFORMED_ASSERTION_TEXT)
}

fn bad_signature(reason: &str) -> TokenError {
    TokenError::new(aadsts::BAD_ASSERTION_SIGNATURE, aadsts::bad_signature(reason))
}

/// Reads the claims without verifying them.
fn unverified_claims(assertion: &str) -> Option<Value> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn decode_thumbprint(s: &str) -> Option<Vec<u8>> {
    [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD, &STANDARD_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

fn audiences(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

fn claim<'a>(claims: &'a Value, name: &str) -> &'a str {
    claims.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// Verifies a signature only (lifetime and audience are checked by hand on the emulator clock).
fn verify_signature(assertion: &str, key: &DecodingKey, alg: Algorithm) -> bool {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(assertion, key, &v).is_ok()
}

fn check_lifetime(claims: &Value, now: Timestamp) -> Result<(), TokenError> {
    let exp = claims.get("exp").and_then(Value::as_i64);
    let nbf = claims.get("nbf").and_then(Value::as_i64);
    let skew = ASSERTION_CLOCK_SKEW.as_secs() as i64;
    let now_s = now.as_second();
    let expired = exp.is_none_or(|exp| now_s > exp + skew);
    let early = nbf.is_some_and(|nbf| nbf > now_s + skew);
    if expired || early {
        let fmt = |s: Option<i64>| {
            s.and_then(|s| Timestamp::from_second(s).ok())
                .map_or_else(|| "n/a".to_owned(), |t| t.to_string())
        };
        return Err(TokenError::new(
            aadsts::ASSERTION_LIFETIME,
            aadsts::assertion_lifetime(&now.to_string(), &fmt(nbf), &fmt(exp)),
        ));
    }
    Ok(())
}

/// Verifies a client assertion for `client_id`. `holders` are the objects whose credentials
/// count for the client; `token_urls` the audiences a certificate assertion may carry.
pub(crate) fn verify(
    dir: &Directory,
    holders: &[&DirObject],
    client_id: &str,
    assertion: &str,
    token_urls: &[String],
    now: Timestamp,
) -> Result<Accepted, TokenError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    let claims = unverified_claims(assertion).ok_or_else(malformed)?;
    let is_certificate = header.x5t.is_some()
        || header.x5t_s256.is_some()
        || claim(&claims, "iss").eq_ignore_ascii_case(client_id);
    if is_certificate {
        verify_certificate_assertion(holders, client_id, assertion, &header, &claims, token_urls, now)?;
        Ok(Accepted::Certificate)
    } else {
        verify_federated(dir, holders, assertion, &header, &claims, now)?;
        Ok(Accepted::Federated)
    }
}

fn verify_certificate_assertion(
    holders: &[&DirObject],
    client_id: &str,
    assertion: &str,
    header: &Header,
    claims: &Value,
    token_urls: &[String],
    now: Timestamp,
) -> Result<(), TokenError> {
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(bad_signature(
            "The signing algorithm is not supported; use RS256 or PS256.",
        ));
    }
    let presented = header
        .x5t_s256
        .as_deref()
        .or(header.x5t.as_deref())
        .unwrap_or_default();
    let wanted = decode_thumbprint(presented);
    let cert = holders.iter().flat_map(|o| o.certificates.iter()).find(|c| {
        wanted.as_deref().is_some_and(|w| {
            if header.x5t_s256.is_some() {
                w == c.sha256.as_slice()
            } else {
                w == c.sha1.as_slice()
            }
        })
    });
    let Some(cert) = cert else {
        return Err(bad_signature(&format!(
            "The key was not found., Thumbprint of key used by client: '{presented}'"
        )));
    };
    if !verify_signature(assertion, &cert.key, header.alg) {
        return Err(bad_signature(
            "The provided signature value did not match the expected signature value.",
        ));
    }
    if now < cert.start || now >= cert.end {
        return Err(bad_signature("The key used is expired."));
    }
    let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    if !audiences(claims)
        .iter()
        .any(|a| token_urls.iter().any(|u| norm(u) == norm(a)))
    {
        return Err(TokenError::new(
            aadsts::ASSERTION_WRONG_AUDIENCE,
            aadsts::WRONG_AUDIENCE_TEXT,
        ));
    }
    if !claim(claims, "iss").eq_ignore_ascii_case(client_id)
        || !claim(claims, "sub").eq_ignore_ascii_case(client_id)
    {
        return Err(TokenError::new(
            aadsts::ASSERTION_WRONG_CLIENT,
            aadsts::WRONG_CLIENT_TEXT,
        ));
    }
    check_lifetime(claims, now)
}

/// Algorithms accepted from external issuers (what Kubernetes and common OIDC issuers use).
const FEDERATED_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

fn verify_federated(
    dir: &Directory,
    holders: &[&DirObject],
    assertion: &str,
    header: &Header,
    claims: &Value,
    now: Timestamp,
) -> Result<(), TokenError> {
    let (iss, sub, aud) = (claim(claims, "iss"), claim(claims, "sub"), audiences(claims));
    let matched = holders
        .iter()
        .filter(|o| o.kind == ObjectKind::Application)
        .flat_map(|o| o.federated.iter())
        .any(|f| f.issuer == iss && f.subject == sub && f.audiences.iter().any(|a| aud.contains(a)));
    if !matched {
        return Err(TokenError::new(
            aadsts::NO_MATCHING_FEDERATION,
            aadsts::no_matching_federation(iss, sub, &aud.join(",")),
        ));
    }
    let Some(trusted) = dir.trusted_issuers.get(iss) else {
        return Err(TokenError::new(
            aadsts::UNTRUSTED_ISSUER,
            aadsts::untrusted_issuer(iss),
        ));
    };
    if !FEDERATED_ALGORITHMS.contains(&header.alg) {
        return Err(bad_signature("The signing algorithm is not supported."));
    }
    let candidates: Vec<_> = match &header.kid {
        Some(kid) => trusted
            .jwks
            .keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .collect(),
        None => trusted.jwks.keys.iter().collect(),
    };
    let verified = candidates
        .iter()
        .filter_map(|jwk| DecodingKey::from_jwk(jwk).ok())
        .any(|key| verify_signature(assertion, &key, header.alg));
    if !verified {
        return Err(bad_signature(
            "The signature of the federated token could not be verified with the issuer's keys.",
        ));
    }
    check_lifetime(claims, now)
}
