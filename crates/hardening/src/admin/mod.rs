//! The admin endpoint: probes, Prometheus `/metrics`, `/status`, metrics-store queries, a
//! status page, and operator actions behind a bearer token.
//!
//! | method and path | answers |
//! |---|---|
//! | `GET /` | the status page: one self-contained HTML page that draws its charts from `/api/query` |
//! | `GET /health`, `/health/live`, `/health/ready`, `/health/startup` | `application/health+json`, 200 or 503; details only with the token (as `health.details` says) |
//! | `GET /metrics` | Prometheus text |
//! | `GET /status` | [`StatusReport`](crate::StatusReport) as JSON |
//! | `GET /api/query?selector=…&function=…&range=…&step=…` | metrics-store query results as JSON |
//! | `POST /api/breakers/{name}/force-open`, `/close`, `/reset` | moves a breaker (token) |
//! | `POST /api/services/{name}/recover` | starts a recovery (token) |
//! | `POST /api/silences` | silences alerts: `{"matchers": ["alertname=\"X\""], "durationMs": 3600000, "comment": "…"}` (token) |
//!
//! Actions answer 401 without `Authorization: Bearer <token>`, 403 with a wrong token (or
//! when no token is configured, which turns every action off). Tokens are compared in
//! constant time. Bad requests get a 4xx with `{"error": "…"}` and change nothing: an unknown
//! breaker or service is 404, a malformed query or body 400, a body over
//! `admin.maxBodyBytes` 413.
//!
//! The endpoint listens on `admin.address`, `127.0.0.1:9090` by default: loopback, so that
//! only this host reaches it unless you choose otherwise.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::health::axum::{BearerToken, HealthRoutes, TokenCheck};
use crate::{Hardening, HardeningError};

/// The status page, served as it is: no CDN, no build step.
const STATUS_PAGE: &str = include_str!("status.html");

/// The Prometheus text format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone)]
struct Admin {
    system: Hardening,
    token: Option<BearerToken>,
    max_body: usize,
}

/// A running admin endpoint; [`shutdown`](Self::shutdown) stops it (so does dropping it).
#[derive(Debug)]
pub struct AdminServer {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Where it listens (with the port the system chose, when the config said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections, lets requests in flight finish, and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Hardening {
    /// The admin endpoint's routes, to serve yourself or merge into your application's
    /// router. Needs [`initialize`](Hardening::initialize) to have run for the probes.
    pub fn admin_router(&self) -> Router {
        let settings = &self.config().admin;
        let admin = Admin {
            system: self.clone(),
            token: settings.token.as_deref().map(BearerToken::new),
            max_body: settings.max_body_bytes as usize,
        };
        let mut router = Router::new()
            .route("/", get(status_page))
            .route("/metrics", get(metrics))
            .route("/status", get(status))
            .route("/api/query", get(query))
            .route("/api/breakers/{name}/{action}", post(breaker_action))
            .route("/api/services/{name}/recover", post(recover))
            .route("/api/silences", post(silence))
            .fallback(not_found)
            .with_state(admin.clone());
        if let Some(monitor) = self.health_monitor() {
            let mut health =
                HealthRoutes::new(monitor).details(match self.config().health.details {
                    crate::config::Details::Never => crate::health::DetailsPolicy::Never,
                    crate::config::Details::WhenAuthorized => {
                        crate::health::DetailsPolicy::WhenAuthorized
                    }
                    crate::config::Details::Always => crate::health::DetailsPolicy::Always,
                });
            if let Some(token) = admin.token {
                health = health.authorize(move |headers| token.check(headers) == TokenCheck::Valid);
            }
            router = router.merge(health.into_router());
        }
        router
    }

    /// Starts the admin endpoint on `admin.address` (`127.0.0.1:9090` by default) on the
    /// current tokio runtime.
    pub async fn serve_admin(&self) -> Result<AdminServer, HardeningError> {
        let address: SocketAddr = self.config().admin.address.parse().map_err(|_| {
            HardeningError::Start(format!(
                "admin.address {:?} is not an address",
                self.config().admin.address
            ))
        })?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| HardeningError::Start(format!("admin endpoint on {address}: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| HardeningError::Start(format!("admin endpoint: {e}")))?;
        if !address.ip().is_loopback() && self.config().admin.token.is_none() {
            tracing::warn!(%address, "the admin endpoint listens beyond loopback with no token: its actions are off, but its status is readable by anyone who reaches it");
        }
        let router = self.admin_router();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "the admin endpoint stopped");
            }
        });
        tracing::info!(%address, "admin endpoint listening");
        Ok(AdminServer {
            address,
            stop: Some(stop),
            task,
        })
    }
}

/// `{"error": message}` with `status`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl Admin {
    /// `None` when the request may act; else the answer refusing it.
    fn refuse(&self, headers: &HeaderMap) -> Option<Response> {
        let Some(token) = &self.token else {
            return Some(error(
                StatusCode::FORBIDDEN,
                "operator actions are off: no admin.token is configured",
            ));
        };
        match token.check(headers) {
            TokenCheck::Valid => None,
            TokenCheck::Missing => {
                let mut response = error(
                    StatusCode::UNAUTHORIZED,
                    "this action needs Authorization: Bearer <admin token>",
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"hardening admin\""),
                );
                Some(response)
            }
            TokenCheck::Wrong => Some(error(StatusCode::FORBIDDEN, "the token is not accepted")),
        }
    }
}

async fn status_page() -> Response {
    no_store(Html(STATUS_PAGE).into_response())
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such page; see / for the status page",
    )
}

async fn metrics(State(admin): State<Admin>) -> Response {
    // Breaker counters batch per thread; publish them before the scrape reads them.
    #[cfg(feature = "error-recovery")]
    for name in admin.system.services() {
        if let Some(breaker) = admin.system.breaker(&name) {
            breaker.flush_metrics();
        }
    }
    let text = admin
        .system
        .prometheus()
        .map(|p| p.render())
        .unwrap_or_default();
    no_store(
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(PROMETHEUS_TEXT),
            )],
            text,
        )
            .into_response(),
    )
}

async fn status(State(admin): State<Admin>) -> Response {
    no_store(axum::Json(admin.system.status_report().await).into_response())
}

/// `/api/query`'s parameters: a selector and a function over a range ending now.
#[derive(Debug, Deserialize)]
#[cfg_attr(
    not(feature = "metrics-store"),
    allow(
        dead_code,
        reason = "read by the query route of the metrics-store build only"
    )
)]
struct QueryParams {
    selector: Option<String>,
    function: Option<String>,
    /// How far back, in milliseconds (default an hour).
    range: Option<i64>,
    /// Milliseconds between points (default the range over 120).
    step: Option<i64>,
    /// `sum`, `avg`, `min` or `max` across series.
    aggregate: Option<String>,
    /// Comma-separated labels to group the aggregation by.
    by: Option<String>,
}

#[cfg(feature = "metrics-store")]
async fn query(
    State(admin): State<Admin>,
    params: Result<Query<QueryParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    use crate::metrics_store::{Aggregation, Function, RangeQuery, Selector};
    use std::time::{SystemTime, UNIX_EPOCH};
    let Ok(Query(params)) = params else {
        return error(
            StatusCode::BAD_REQUEST,
            "the query string does not parse; expected selector=…&function=…&range=…&step=…",
        );
    };
    let Some(store) = admin.system.metrics_store() else {
        return error(
            StatusCode::NOT_FOUND,
            "the metrics store is off: set enableMetricsStore: true",
        );
    };
    let Some(selector) = params.selector else {
        return error(
            StatusCode::BAD_REQUEST,
            "selector is required, e.g. selector=http_requests_total{route=\"/\"}",
        );
    };
    let selector: Selector = match selector.parse() {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let function: Function = match params.function.as_deref().unwrap_or("last").parse() {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let range = params.range.unwrap_or(3_600_000);
    if range <= 0 || range > 366 * 86_400_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "range must be a number of milliseconds above 0 and at most a year",
        );
    }
    let step = params.step.unwrap_or((range / 120).max(1_000));
    if step <= 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "step must be a number of milliseconds above 0",
        );
    }
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis(),
    )
    .unwrap_or(i64::MAX);
    let mut request = RangeQuery::new(selector, now - range, now, step, function);
    if let Some(aggregate) = params.aggregate {
        request.aggregate = match aggregate.as_str() {
            "sum" => Some(Aggregation::Sum),
            "avg" => Some(Aggregation::Avg),
            "min" => Some(Aggregation::Min),
            "max" => Some(Aggregation::Max),
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("aggregate {other:?} is not one of sum, avg, min, max"),
                );
            }
        };
        request.by = params
            .by
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
    }
    match store.query(&request) {
        Ok(series) => no_store(axum::Json(json!({ "from": request.from, "to": request.to, "step": request.step, "series": series })).into_response()),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

#[cfg(not(feature = "metrics-store"))]
async fn query(
    State(_): State<Admin>,
    _: Result<Query<QueryParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "the metrics store is not in this build (the `metrics-store` feature)",
    )
}

#[cfg(feature = "error-recovery")]
async fn breaker_action(
    State(admin): State<Admin>,
    axum::extract::Path((name, action)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    use crate::breaker::State as Breaker;
    if let Some(refused) = admin.refuse(&headers) {
        return refused;
    }
    let Some(breaker) = admin.system.breaker(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no breaker named {name:?}"));
    };
    match action.as_str() {
        "force-open" => breaker.transition_to(Breaker::ForcedOpen),
        "close" => breaker.transition_to(Breaker::Closed),
        "reset" => breaker.reset(),
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no breaker action {other:?}; the actions are force-open, close and reset"),
            );
        }
    }
    tracing::info!(breaker = %name, %action, "operator action");
    axum::Json(json!({ "breaker": name, "state": breaker.state().to_string() })).into_response()
}

#[cfg(not(feature = "error-recovery"))]
async fn breaker_action(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if let Some(refused) = admin.refuse(&headers) {
        return refused;
    }
    error(
        StatusCode::NOT_FOUND,
        "breakers are not in this build (the `error-recovery` feature)",
    )
}

#[cfg(feature = "error-recovery")]
async fn recover(
    State(admin): State<Admin>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = admin.refuse(&headers) {
        return refused;
    }
    if !admin.system.services().contains(&name) {
        return error(StatusCode::NOT_FOUND, format!("no service named {name:?}"));
    }
    match admin.system.recover(&name, "operator") {
        Ok(()) => {
            tracing::info!(service = %name, "operator started a recovery");
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({ "service": name, "recovery": "started" })),
            )
                .into_response()
        }
        Err(HardeningError::Recovery(e)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

#[cfg(not(feature = "error-recovery"))]
async fn recover(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if let Some(refused) = admin.refuse(&headers) {
        return refused;
    }
    error(
        StatusCode::NOT_FOUND,
        "services are not in this build (the `error-recovery` feature)",
    )
}

/// A silence as `/api/silences` takes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SilenceRequest {
    matchers: Vec<String>,
    duration_ms: u64,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
}

async fn silence(State(admin): State<Admin>, headers: HeaderMap, body: Body) -> Response {
    use crate::health::alert::{Matcher, Silence};
    if let Some(refused) = admin.refuse(&headers) {
        return refused;
    }
    let body: Bytes = match axum::body::to_bytes(body, admin.max_body).await {
        Ok(body) => body,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is over admin.maxBodyBytes ({} bytes)",
                    admin.max_body
                ),
            );
        }
    };
    let request: SilenceRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body is not a silence ({e}); expected {{\"matchers\": [\"alertname=\\\"X\\\"\"], \"durationMs\": 3600000, \"comment\": \"…\"}}"
                ),
            );
        }
    };
    let mut matchers = Vec::new();
    for text in &request.matchers {
        match text.parse::<Matcher>() {
            Ok(m) => matchers.push(m),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("matchers: {e}")),
        }
    }
    let mut builder = Silence::builder()
        .matchers(matchers)
        .duration(Duration::from_millis(request.duration_ms));
    if let Some(comment) = request.comment {
        builder = builder.comment(comment);
    }
    if let Some(who) = request.created_by {
        builder = builder.created_by(who);
    }
    let silence = match builder.build() {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let Some(alerts) = admin.system.alerts() else {
        return error(
            StatusCode::CONFLICT,
            "alerts are not running: initialize the system with health monitoring on",
        );
    };
    match alerts.silence(silence) {
        Ok(id) => (
            StatusCode::CREATED,
            axum::Json(json!({ "silence": id.to_string() })),
        )
            .into_response(),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}
