//! An `axum` router serving the probes.
//!
//! | path | answers for |
//! |---|---|
//! | `/health` | the whole service |
//! | `/health/live` | the liveness group |
//! | `/health/ready` | the readiness group |
//! | `/health/startup` | the startup group |
//! | `/health/{group}` | a custom group (404 if no check belongs to it) |
//!
//! Every answer is `application/health+json` with `Cache-Control: no-store`, 200 for `pass`
//! and `warn`, 503 for `fail`. Handlers read the monitor's cached snapshot; none waits on a
//! check.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::render::CONTENT_TYPE;
use crate::{DetailsPolicy, Group, HealthJson, HealthMonitor, Scope};

type Authorize = Arc<dyn Fn(&HeaderMap) -> bool + Send + Sync>;

/// Builds the probes' [`Router`].
///
/// ```
/// use hardening_health::axum::HealthRoutes;
/// use hardening_health::{DetailsPolicy, HealthJson, HealthMonitor};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hardening_health::ConfigError> {
/// let monitor = HealthMonitor::builder().build()?;
/// let app: axum::Router = HealthRoutes::new(monitor)
///     .json(HealthJson::new().service_id("orders"))
///     .details(DetailsPolicy::WhenAuthorized)
///     .bearer_token("s3cret")
///     .into_router();
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use = "call `into_router` to get the router"]
pub struct HealthRoutes {
    monitor: HealthMonitor,
    json: HealthJson,
    policy: DetailsPolicy,
    authorize: Option<Authorize>,
}

impl fmt::Debug for HealthRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRoutes")
            .field("json", &self.json)
            .field("policy", &self.policy)
            .field("authorize", &self.authorize.is_some())
            .finish_non_exhaustive()
    }
}

impl HealthRoutes {
    /// Routes for `monitor`, showing details only to authorized callers (and, until you set
    /// [`authorize`](Self::authorize) or [`bearer_token`](Self::bearer_token), nobody is).
    pub fn new(monitor: HealthMonitor) -> Self {
        HealthRoutes {
            monitor,
            json: HealthJson::new(),
            policy: DetailsPolicy::default(),
            authorize: None,
        }
    }

    /// The service identity put in each body.
    pub fn json(mut self, json: HealthJson) -> Self {
        self.json = json;
        self
    }

    /// Who sees the checks. Default [`DetailsPolicy::WhenAuthorized`].
    pub fn details(mut self, policy: DetailsPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Decides from the request's headers whether a caller is authorized to see details.
    pub fn authorize(mut self, f: impl Fn(&HeaderMap) -> bool + Send + Sync + 'static) -> Self {
        self.authorize = Some(Arc::new(f));
        self
    }

    /// Authorizes callers that send `Authorization: Bearer <token>`.
    pub fn bearer_token(self, token: impl Into<String>) -> Self {
        let token = BearerToken::new(token);
        self.authorize(move |headers| token.check(headers) == TokenCheck::Valid)
    }

    /// The router; merge or nest it into your application's.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let routes = Arc::new(self);
        Router::new()
            .route("/health", get(overall))
            .route("/health/live", get(live))
            .route("/health/ready", get(ready))
            .route("/health/startup", get(startup))
            .route("/health/{group}", get(custom))
            .with_state(routes)
    }

    fn answer(&self, scope: &Scope, headers: &HeaderMap) -> Response {
        let authorized = self.authorize.as_ref().is_some_and(|f| f(headers));
        let details = self.policy.shows_details(authorized);
        match self.json.render(&self.monitor.snapshot(), scope, details) {
            Some(response) => {
                let code = StatusCode::from_u16(response.status_code)
                    .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                (
                    code,
                    [
                        (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    ],
                    response.body,
                )
                    .into_response()
            }
            None => (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
                r#"{"status":"fail","output":"no such health group"}"#,
            )
                .into_response(),
        }
    }
}

/// A bearer token that requests must carry (`Authorization: Bearer <token>`), compared in
/// constant time so that response timing does not tell how much of a guess was right.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use hardening_health::axum::{BearerToken, TokenCheck};
///
/// let token = BearerToken::new("0123456789abcdef");
/// let mut headers = HeaderMap::new();
/// assert_eq!(token.check(&headers), TokenCheck::Missing);
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer guess"));
/// assert_eq!(token.check(&headers), TokenCheck::Wrong);
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer 0123456789abcdef"));
/// assert_eq!(token.check(&headers), TokenCheck::Valid);
/// ```
#[derive(Clone)]
pub struct BearerToken {
    token: Arc<[u8]>,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// What a request's credentials are worth against a [`BearerToken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// No `Authorization: Bearer …` header: answer 401.
    Missing,
    /// A bearer token, not the right one: answer 403.
    Wrong,
    /// The right token.
    Valid,
}

impl BearerToken {
    /// The token requests must carry.
    pub fn new(token: impl Into<String>) -> Self {
        BearerToken {
            token: token.into().into_bytes().into(),
        }
    }

    /// Checks a request's `Authorization` header (the scheme is case-insensitive, as HTTP
    /// says).
    pub fn check(&self, headers: &HeaderMap) -> TokenCheck {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return TokenCheck::Missing;
        };
        let value = value.as_bytes();
        let scheme = b"bearer ";
        if value.len() < scheme.len() || !value[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return TokenCheck::Missing;
        }
        if constant_time_eq(&value[scheme.len()..], &self.token) {
            TokenCheck::Valid
        } else {
            TokenCheck::Wrong
        }
    }
}

/// Equality whose time depends on the lengths only, never on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn overall(State(routes): State<Arc<HealthRoutes>>, headers: HeaderMap) -> Response {
    routes.answer(&Scope::Overall, &headers)
}

async fn live(State(routes): State<Arc<HealthRoutes>>, headers: HeaderMap) -> Response {
    routes.answer(&Scope::Group(Group::Liveness), &headers)
}

async fn ready(State(routes): State<Arc<HealthRoutes>>, headers: HeaderMap) -> Response {
    routes.answer(&Scope::Group(Group::Readiness), &headers)
}

async fn startup(State(routes): State<Arc<HealthRoutes>>, headers: HeaderMap) -> Response {
    routes.answer(&Scope::Group(Group::Startup), &headers)
}

async fn custom(
    State(routes): State<Arc<HealthRoutes>>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Response {
    match Group::custom(&group) {
        Ok(group) => routes.answer(&Scope::Group(group), &headers),
        Err(_) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            r#"{"status":"fail","output":"no such health group"}"#,
        )
            .into_response(),
    }
}
