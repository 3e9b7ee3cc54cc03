//! The admission webhook's HTTPS server.
//!
//! * [`router`]: one `POST` route per [`Endpoint`] on upstream's paths, with a body size limit,
//!   a JSON content-type check and metrics for every request;
//! * [`tls`]: the serving certificate, read from the mounted Secret and reloaded when it rotates;
//! * [`bind`] / [`serve`]: the TLS listener (HTTP/1.1 and HTTP/2, keep-alive, graceful
//!   shutdown) with a readiness signal.
//!
//! Responses: 200 with the AdmissionReview JSON; 400 (not an AdmissionReview), 408 (the body
//! did not arrive within [`BODY_READ_TIMEOUT`]), 413 (body over the limit), 415 (not JSON), 404
//! (unknown path) and 405 (not `POST`) as `text/plain` with the reason.
//!
//! Hostile or broken clients are bounded (see [`ServerLimits`]): a TLS handshake, the request
//! headers and the body each have a deadline, and at most `max_connections` connections are
//! served at once (more wait in the listen backlog), so memory stays bounded whatever clients do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::admission::{Admission, Endpoint};
use crate::metrics::{Rejection, UNKNOWN_WEBHOOK, WebhookMetrics};

mod listen;
pub mod tls;

pub use listen::{BoundServer, ServerError, ServerLimits, bind, serve};
pub use tls::TlsSettings;

/// Largest request body accepted: 4 MiB (the API server itself caps objects at 3 MiB).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// A request whose body has not fully arrived by then is answered 408 (the API server gives a
/// webhook at most 30 s, 10 s by default).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct AppState {
    admission: Admission,
    metrics: Arc<WebhookMetrics>,
    body_read_timeout: Duration,
}

/// The admission router with the default body limit ([`MAX_BODY_BYTES`]).
pub fn router(admission: Admission, metrics: Arc<WebhookMetrics>) -> Router {
    router_with_body_limit(admission, metrics, MAX_BODY_BYTES)
}

/// The admission router with a body limit of `max_body_bytes`.
pub fn router_with_body_limit(
    admission: Admission,
    metrics: Arc<WebhookMetrics>,
    max_body_bytes: usize,
) -> Router {
    router_with_limits(admission, metrics, max_body_bytes, BODY_READ_TIMEOUT)
}

/// The admission router with a body limit and a body read deadline.
pub fn router_with_limits(
    admission: Admission,
    metrics: Arc<WebhookMetrics>,
    max_body_bytes: usize,
    body_read_timeout: Duration,
) -> Router {
    let mut router = Router::new();
    for endpoint in Endpoint::ALL {
        let route = post(move |State(state): State<AppState>, request: Request| {
            handle(state, endpoint, request)
        })
        .fallback(
            move |State(state): State<AppState>, request: Request| async move {
                method_not_allowed(&state, endpoint, &request)
            },
        );
        router = router.route(endpoint.path(), route);
    }
    router
        .fallback(|State(state): State<AppState>, request: Request| async move {
            not_found(&state, &request)
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(AppState {
            admission,
            metrics,
            body_read_timeout,
        })
}

async fn handle(state: AppState, endpoint: Endpoint, request: Request) -> Response {
    let started = Instant::now();
    let webhook = endpoint.name();
    let reject = |rejection: Rejection, status: StatusCode, reason: String| {
        tracing::warn!(webhook, status = status.as_u16(), %reason, "admission request refused");
        state
            .metrics
            .record_rejection(webhook, rejection, started.elapsed());
        text(status, reason)
    };

    if let Err(reason) = check_content_type(request.headers()) {
        return reject(
            Rejection::UnsupportedMediaType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reason,
        );
    }
    let read = tokio::time::timeout(state.body_read_timeout, Bytes::from_request(request, &()));
    let Ok(read) = read.await else {
        return reject(
            Rejection::RequestTimeout,
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body not received within {} ms",
                state.body_read_timeout.as_millis()
            ),
        );
    };
    let body = match read {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return reject(
                Rejection::PayloadTooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is larger than the admission webhook accepts".to_string(),
            );
        }
        Err(rejection) => {
            return reject(
                Rejection::BadRequest,
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {}", rejection.body_text()),
            );
        }
    };

    match state.admission.review(endpoint, &body).await {
        Ok(reviewed) => {
            let elapsed = started.elapsed();
            state
                .metrics
                .record_review(endpoint, reviewed.decision, reviewed.category, elapsed);
            tracing::debug!(
                webhook,
                decision = reviewed.decision.as_str(),
                category = reviewed.category,
                micros = elapsed.as_micros() as u64,
                "admission request answered"
            );
            let mut response = Response::new(Body::from(reviewed.body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(bad) => reject(
            Rejection::BadRequest,
            StatusCode::BAD_REQUEST,
            bad.to_string(),
        ),
    }
}

/// Accept `application/json`, with optional parameters such as `charset=utf-8`.
fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("missing Content-Type: want application/json".to_string());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match essence {
        Some(mime) if mime.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(format!(
            "unsupported Content-Type {}: want application/json",
            String::from_utf8_lossy(value.as_bytes())
        )),
    }
}

fn method_not_allowed(state: &AppState, endpoint: Endpoint, request: &Request) -> Response {
    state.metrics.record_rejection(
        endpoint.name(),
        Rejection::MethodNotAllowed,
        std::time::Duration::ZERO,
    );
    tracing::debug!(method = %request.method(), path = endpoint.path(), "method not allowed");
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {} not allowed on {}: admission reviews are POSTed",
            request.method(),
            endpoint.path()
        ),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

fn not_found(state: &AppState, request: &Request) -> Response {
    state.metrics.record_rejection(
        UNKNOWN_WEBHOOK,
        Rejection::NotFound,
        std::time::Duration::ZERO,
    );
    tracing::debug!(path = request.uri().path(), "no admission webhook at path");
    text(
        StatusCode::NOT_FOUND,
        format!("no admission webhook at path {}", request.uri().path()),
    )
}

fn text(status: StatusCode, reason: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        reason,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
