//! Authenticated Microsoft Graph calls: bearer token from the per-provider cache, retries through
//! throttling, outages and replication lag, one token refresh on `401 InvalidAuthenticationToken`.
//!
//! Invariants:
//! * a 401 drops the cached token (only the one that was refused) and the call is retried once
//!   with a fresh token; a second 401 is [`Reason::InvalidOperatorCredential`];
//! * a 404 on an object this client wrote less than `replication_lag_window` ago is replication
//!   lag and is retried until the window closes; any other 404 is final at once;
//! * every request of one logical call carries the same `client-request-id` (and a
//!   `retry-attempt` header), so the call can be followed in Microsoft's logs and ours;
//! * the bearer token and request/response bodies are never logged.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use jiff::Timestamp;
use reqwest::Method;
use secrecy::ExposeSecret;
use tracing::Instrument;
use url::Url;

use super::{
    access_token::{AccessToken, TokenCache},
    graph_error::{GraphError, GraphFailure},
    retry::{self, Attempt, RetryCause, RetryContext, RetryPolicy},
    sign_in::OperatorCredential,
    transport::{Http, HttpResponse},
};
use crate::{
    clock::Clock,
    provider::{ApplicationRef, ProviderError, Reason, sleeper::Sleeper},
};

/// What the Graph client shares with the rest of the provider: the HTTP client, time and retry policy.
#[derive(Debug)]
pub struct Io {
    /// The HTTP client, observed.
    pub http: Http,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// How to wait.
    pub sleeper: Arc<dyn Sleeper>,
    /// How hard to retry.
    pub retry: RetryPolicy,
    /// How early to replace the operator's token.
    pub refresh_margin: Duration,
}

impl Io {
    /// The retry driver's view of this.
    pub fn retry_context(&self) -> RetryContext<'_> {
        RetryContext {
            policy: &self.retry,
            clock: &*self.clock,
            sleeper: &*self.sleeper,
        }
    }
}

/// A failed Graph call: the provider error, and Graph's own classification when Graph answered.
#[derive(Debug)]
pub struct GraphCallError {
    /// How Graph's answer was classified, if there was one.
    pub failure: Option<GraphFailure>,
    /// The error for callers.
    pub error: ProviderError,
}

impl From<ProviderError> for GraphCallError {
    fn from(error: ProviderError) -> Self {
        Self { failure: None, error }
    }
}

/// The Graph client of one provider.
#[derive(Debug)]
pub struct GraphClient {
    /// `{graph root}/v1.0`.
    pub base: Url,
    token_url: Url,
    scope: String,
    operator: OperatorCredential,
    tokens: TokenCache,
    recent_writes: Mutex<HashMap<ApplicationRef, Timestamp>>,
}

/// One Graph request.
pub struct GraphRequest<'a> {
    /// HTTP method.
    pub method: Method,
    /// Full URL.
    pub url: Url,
    /// JSON body, if any.
    pub body: Option<serde_json::Value>,
    /// Names the call in logs and errors.
    pub what: &'a str,
    /// The operation's fixed name, for the request observer.
    pub operation: &'static str,
    /// The object the call is about, for replication-lag tolerance.
    pub object: &'a ApplicationRef,
    /// Whether repeating the request after an unknown outcome is harmless. `false` for writes that
    /// create something (`addPassword`): when the connection drops, times out, or Graph answers
    /// 500/504 after the request was sent, the write may have happened, and a blind retry would
    /// create a second credential whose twin nobody records. Such a failure goes back to the caller
    /// instead (the decision core lists the credentials and revokes the one it never saw before it
    /// mints again). 429 and 503 mean the request was not processed and are retried either way.
    pub idempotent: bool,
}

impl GraphClient {
    /// A client for the given endpoints and operator credential.
    pub fn new(base: Url, token_url: Url, scope: String, operator: OperatorCredential) -> Self {
        Self {
            base,
            token_url,
            scope,
            operator,
            tokens: TokenCache::default(),
            recent_writes: Mutex::default(),
        }
    }

    /// The operator's Graph token (cached).
    async fn token(&self, io: &Io) -> Result<AccessToken, ProviderError> {
        let retry = io.retry_context();
        self.tokens
            .get(
                || io.clock.now(),
                || {
                    self.operator
                        .fetch(&io.http, &self.token_url, &self.scope, io.refresh_margin, &retry)
                },
            )
            .await
    }

    /// Signs the operator in (or finds its cached Graph token still fresh).
    pub async fn sign_in(&self, io: &Io) -> Result<(), ProviderError> {
        self.token(io).await.map(|_| ())
    }

    /// Remembers that we just wrote `object`.
    pub fn record_write(&self, io: &Io, object: &ApplicationRef) {
        let now = io.clock.now();
        let window = io.retry.replication_lag_window;
        let mut writes = self.recent_writes.lock().unwrap_or_else(|e| e.into_inner());
        writes.retain(|_, at| now.duration_since(*at).unsigned_abs() < window);
        writes.insert(object.clone(), now);
    }

    /// Until when a 404 on `object` counts as replication lag.
    fn lag_deadline(&self, io: &Io, object: &ApplicationRef) -> Option<Timestamp> {
        let writes = self.recent_writes.lock().unwrap_or_else(|e| e.into_inner());
        writes.get(object).map(|at| *at + io.retry.replication_lag_window)
    }

    /// Sends a request; `Ok` holds a 2xx response.
    pub async fn call(&self, io: &Io, request: GraphRequest<'_>) -> Result<HttpResponse, GraphCallError> {
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::debug_span!("graph", what = request.what, client_request_id = %client_request_id);
        self.call_in_span(io, &request, &client_request_id)
            .instrument(span)
            .await
    }

    async fn call_in_span(
        &self,
        io: &Io,
        request: &GraphRequest<'_>,
        client_request_id: &str,
    ) -> Result<HttpResponse, GraphCallError> {
        let mut refreshed = false;
        loop {
            let token = self.token(io).await?;
            match self.call_with(io, request, &token, client_request_id).await? {
                Ok(response) => return Ok(response),
                Err((graph, GraphFailure::InvalidToken)) if !refreshed => {
                    tracing::info!(status = graph.status, code = %graph.code, "Graph refused the access token; fetching a new one");
                    self.tokens.invalidate(token.generation).await;
                    refreshed = true;
                }
                Err((graph, failure)) => {
                    let reason = match failure {
                        GraphFailure::InvalidToken => Reason::InvalidOperatorCredential,
                        GraphFailure::NotFound => Reason::ApplicationNotFound,
                        GraphFailure::KeyAlreadyGone => Reason::RequestRejected,
                        GraphFailure::Transient(reason) | GraphFailure::Final(reason) => reason,
                    };
                    return Err(GraphCallError {
                        failure: Some(failure),
                        error: graph.to_provider_error(reason, request.what),
                    });
                }
            }
        }
    }

    /// One round of retries with one token. `Ok(Err(_))` is Graph's final answer.
    async fn call_with(
        &self,
        io: &Io,
        request: &GraphRequest<'_>,
        token: &AccessToken,
        client_request_id: &str,
    ) -> Result<Result<HttpResponse, (GraphError, GraphFailure)>, ProviderError> {
        let ctx = io.retry_context();
        retry::run(&ctx, request.what, |attempt| {
            let mut builder = io
                .http
                .client
                .request(request.method.clone(), request.url.clone())
                .bearer_auth(token.value.expose_secret())
                .header("client-request-id", client_request_id)
                .header("retry-attempt", (attempt - 1).to_string());
            if let Some(body) = &request.body {
                builder = builder.json(body);
            }
            async move {
                let response = match io.http.send(builder, request.operation, request.what, io.clock.now()).await {
                    Ok(response) => response,
                    Err(error) if !request.idempotent => return Attempt::Done(Err(error)),
                    Err(error) => return Attempt::Retry { cause: RetryCause::Transient { retry_after: None }, error },
                };
                tracing::debug!(attempt, status = response.status, method = %request.method, path = request.url.path(), "Graph answered");
                if response.is_success() {
                    return Attempt::Done(Ok(Ok(response)));
                }
                let graph = GraphError::parse(response.status, &response.body, response.request_id.as_deref());
                match graph.classify() {
                    // NB: a 504 (or a 500) may come after the write happened; see `idempotent`.
                    GraphFailure::Transient(reason)
                        if !request.idempotent && !matches!(response.status, 429 | 503) =>
                    {
                        Attempt::Done(Err(graph.to_provider_error(reason, request.what)))
                    }
                    GraphFailure::Transient(reason) => Attempt::Retry {
                        cause: RetryCause::Transient { retry_after: response.retry_after },
                        error: graph.to_provider_error(reason, request.what),
                    },
                    GraphFailure::NotFound => match self.lag_deadline(io, request.object) {
                        Some(until) if io.clock.now() < until => Attempt::Retry {
                            cause: RetryCause::ReplicationLag { until },
                            error: graph.to_provider_error(Reason::ApplicationNotFound, request.what),
                        },
                        _ => Attempt::Done(Ok(Err((graph, GraphFailure::NotFound)))),
                    },
                    failure => Attempt::Done(Ok(Err((graph, failure)))),
                }
            }
        })
        .await
    }
}
