//! Access tokens: the success body of the token endpoint and of IMDS, and the per-provider cache of
//! the operator's Graph token.
//!
//! Invariants:
//! * a token's value is a [`SecretString`] from the moment it is parsed;
//! * `expires_in`/`expires_on` parse whether they are JSON numbers or strings (IMDS sends strings);
//! * the cache hands out a token only before its refresh time (a margin before expiry, but never
//!   less than half its lifetime), fetches at most once at a time, and drops a token only if it is
//!   the one a caller saw refused (so a refused stale token cannot evict a fresh one).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use jiff::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use super::graph_model::parse_secret_bearing;
use crate::provider::{ProviderError, Reason};

/// An access token.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The bearer value.
    pub value: SecretString,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When the cache should fetch a new one.
    pub refresh_at: Timestamp,
    /// Which fetch produced it, within one cache.
    pub generation: u64,
}

#[derive(Deserialize)]
struct Wire {
    access_token: SecretString,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_on: Option<i64>,
    #[serde(default)]
    token_type: Option<String>,
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrString {
        Number(i64),
        String(String),
    }
    match Option::<NumberOrString>::deserialize(d)? {
        None => Ok(None),
        Some(NumberOrString::Number(n)) => Ok(Some(n)),
        Some(NumberOrString::String(s)) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// Parses a token response received at `now`; `refresh_margin` is how long before expiry the
/// token should be replaced.
pub fn parse_token_response(
    body: &[u8],
    now: Timestamp,
    refresh_margin: Duration,
    what: &str,
) -> Result<AccessToken, ProviderError> {
    let wire: Wire = parse_secret_bearing(body, what)?;
    if let Some(kind) = &wire.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(ProviderError::new(
            Reason::UnexpectedResponse,
            format!("{what}: token type {kind:?}, expected Bearer"),
        ));
    }
    let expires_at = match (wire.expires_on, wire.expires_in) {
        (Some(on), _) => Timestamp::from_second(on).ok(),
        (None, Some(seconds)) if seconds >= 0 => {
            now.checked_add(jiff::SignedDuration::from_secs(seconds)).ok()
        }
        _ => None,
    }
    .ok_or_else(|| {
        ProviderError::new(
            Reason::UnexpectedResponse,
            format!("{what}: the token has no usable expiry"),
        )
    })?;
    let lifetime = expires_at.duration_since(now).unsigned_abs();
    let refresh_at = expires_at - refresh_margin.min(lifetime / 2);
    Ok(AccessToken {
        value: wire.access_token,
        expires_at,
        refresh_at,
        generation: 0,
    })
}

/// One cached token.
#[derive(Debug, Default)]
pub struct TokenCache {
    slot: tokio::sync::Mutex<Option<AccessToken>>,
    generations: AtomicU64,
}

impl TokenCache {
    /// The cached token if still fresh at `now`, else the result of `fetch` (which is cached).
    pub async fn get<F, Fut>(
        &self,
        now: impl Fn() -> Timestamp,
        fetch: F,
    ) -> Result<AccessToken, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, ProviderError>>,
    {
        // NB: the lock is held across the fetch on purpose: concurrent callers wait for one fetch
        // instead of each hitting the token endpoint.
        let mut slot = self.slot.lock().await;
        if let Some(token) = slot.as_ref()
            && now() < token.refresh_at
        {
            return Ok(token.clone());
        }
        let mut token = fetch().await?;
        token.generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(expires_at = %token.expires_at, "fetched a new Graph access token");
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Drops the cached token if it is the one of `generation`.
    pub async fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|t| t.generation == generation) {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use secrecy::ExposeSecret;

    use super::*;

    fn now() -> Timestamp {
        "2026-10-01T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn token_endpoint_response_with_numeric_expires_in() {
        let body =
            br#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ.a.b"}"#;
        let token = parse_token_response(body, now(), Duration::from_secs(300), "t").unwrap();
        assert_eq!(token.value.expose_secret(), "eyJ.a.b");
        assert_eq!(token.expires_at, now() + Duration::from_secs(3599));
        assert_eq!(token.refresh_at, now() + Duration::from_secs(3299));
        assert!(!format!("{token:?}").contains("eyJ.a.b"));
    }

    #[test]
    fn imds_response_with_string_fields() {
        let on = now().as_second() + 86_399;
        let body = format!(
            r#"{{"access_token":"eyJ.i.m","refresh_token":"","expires_in":"86399","expires_on":"{on}","not_before":"{}","resource":"https://graph.microsoft.com","token_type":"Bearer"}}"#,
            now().as_second()
        );
        let token = parse_token_response(body.as_bytes(), now(), Duration::from_secs(300), "imds").unwrap();
        assert_eq!(token.expires_at.as_second(), on);
    }

    #[test]
    fn short_lived_tokens_refresh_at_half_life_and_bad_bodies_fail_cleanly() {
        let body = br#"{"token_type":"Bearer","expires_in":"60","access_token":"x"}"#;
        let token = parse_token_response(body, now(), Duration::from_secs(300), "t").unwrap();
        assert_eq!(token.refresh_at, now() + Duration::from_secs(30));
        for bad in [
            &br#"{"access_token":"x"}"#[..],
            br#"{"access_token":"x","expires_in":"soon"}"#,
            br#"{"token_type":"pop","expires_in":1,"access_token":"x"}"#,
        ] {
            let err = parse_token_response(bad, now(), Duration::from_secs(300), "t").unwrap_err();
            assert_eq!(err.reason, Reason::UnexpectedResponse);
        }
    }

    fn token(value: &str, refresh_at: Timestamp) -> AccessToken {
        AccessToken {
            value: value.into(),
            expires_at: refresh_at,
            refresh_at,
            generation: 0,
        }
    }

    #[tokio::test]
    async fn caches_until_refresh_time_and_invalidates_by_generation() {
        let cache = TokenCache::default();
        let fetches = AtomicU32::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok(token(&format!("t{n}"), now() + Duration::from_secs(60)))
        };
        let first = cache.get(now, fetch).await.unwrap();
        let again = cache.get(now, fetch).await.unwrap();
        assert_eq!(again.value.expose_secret(), "t0");
        let later = || now() + Duration::from_secs(60);
        let refreshed = cache.get(later, fetch).await.unwrap();
        assert_eq!(refreshed.value.expose_secret(), "t1");
        // A refusal of the old token does not evict the new one.
        cache.invalidate(first.generation).await;
        assert_eq!(cache.get(now, fetch).await.unwrap().value.expose_secret(), "t1");
        cache.invalidate(refreshed.generation).await;
        assert_eq!(cache.get(now, fetch).await.unwrap().value.expose_secret(), "t2");
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }
}
