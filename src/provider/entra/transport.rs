//! The HTTP transport: one reqwest client (rustls on aws-lc-rs) per provider, one function that
//! sends a request and collects what the client needs from the response.
//!
//! Invariants:
//! * redirects are never followed (neither Graph nor the token endpoint redirect; following one
//!   would move a bearer token or a form with a secret to another place);
//! * a transport failure becomes a [`Reason::ProviderUnavailable`] error whose text has no URL and no
//!   body: reqwest's URL is stripped, only the error kinds and the cause chain remain;
//! * response bodies are capped, so a misbehaving endpoint cannot exhaust memory;
//! * every request sent is reported once to the provider's [`RequestObserver`], with its fixed
//!   operation name and how it ended (never its URL or body).

use std::{fmt, sync::Arc, time::Duration};

use jiff::Timestamp;

use super::{config::EntraConfig, retry::parse_retry_after};
use crate::provider::{
    ProviderError, Reason,
    observer::{RequestObserver, RequestOutcome, Unobserved},
};

/// Largest response body the client reads.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What the client keeps of a response.
#[derive(Debug)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The parsed `Retry-After` header.
    pub retry_after: Option<Duration>,
    /// The `request-id` header (Graph).
    pub request_id: Option<String>,
    /// The whole body. NB: may hold a secret (addPassword, token responses); never log it.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The HTTP client of one provider and who is told about its requests.
#[derive(Clone)]
pub struct Http {
    /// The client.
    pub client: reqwest::Client,
    /// Told about every request.
    pub observer: Arc<dyn RequestObserver>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http").finish_non_exhaustive()
    }
}

impl Http {
    /// A client for `config`, observed by nobody (yet).
    pub fn new(config: &EntraConfig) -> Result<Self, ProviderError> {
        Ok(Self {
            client: build_client(config)?,
            observer: Arc::new(Unobserved),
        })
    }

    /// Sends a request of `operation` and reads the response, reporting how it ended.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        operation: &'static str,
        what: &str,
        now: Timestamp,
    ) -> Result<HttpResponse, ProviderError> {
        let (outcome, result) = send(request, what, now).await;
        self.observer.observe(operation, outcome);
        result
    }
}

/// Builds the HTTP client for a configuration.
pub fn build_client(config: &EntraConfig) -> Result<reqwest::Client, ProviderError> {
    // NB: aws-lc-rs is the only crypto provider in the tree; an error means it is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = Vec::new();
    for (i, pem) in config.extra_root_certificates_pem.iter().enumerate() {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
            ProviderError::new(
                Reason::InvalidConfiguration,
                format!("extra root certificate #{i} is not PEM ({e})"),
            )
        })?;
        roots.extend(certs);
    }
    reqwest::Client::builder()
        .user_agent(concat!("secret-rotator/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.timeouts.connect)
        .timeout(config.timeouts.request)
        .tls_certs_merge(roots)
        .build()
        .map_err(|e| {
            ProviderError::new(
                Reason::InvalidConfiguration,
                format!("cannot build the HTTP client: {}", chain(&e)),
            )
        })
}

/// Sends a request and reads the response; also says how the request ended.
async fn send(
    request: reqwest::RequestBuilder,
    what: &str,
    now: Timestamp,
) -> (RequestOutcome, Result<HttpResponse, ProviderError>) {
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (RequestOutcome::NetworkError, Err(transport_error(e, what))),
    };
    let status = response.status().as_u16();
    let outcome = RequestOutcome::of_status(status);
    let headers = response.headers();
    let retry_after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    let request_id = headers
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    let error = ProviderError::new(
                        Reason::UnexpectedResponse,
                        format!("{what}: response body larger than {MAX_BODY_BYTES} bytes"),
                    );
                    return (RequestOutcome::ServerError, Err(error));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return (RequestOutcome::NetworkError, Err(transport_error(e, what))),
        }
    }
    let response = HttpResponse {
        status,
        retry_after,
        request_id,
        body,
    };
    (outcome, Ok(response))
}

/// A transport error as a provider error, without URL or body.
fn transport_error(error: reqwest::Error, what: &str) -> ProviderError {
    let error = error.without_url();
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "failed reading the response"
    } else {
        "failed"
    };
    ProviderError::new(
        Reason::ProviderUnavailable,
        format!("{what}: {kind}: {}", chain(&error)),
    )
}

/// The error and its causes, joined.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}
