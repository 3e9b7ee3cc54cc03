//! A fake AWS endpoint on 127.0.0.1 that throttles every request, in each protocol our
//! clients speak (JSON for the tagging API, EC2 query, ELBv2 query).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub struct Throttler {
    pub endpoint: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Throttler {
    pub async fn start() -> Throttler {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .fallback(throttle)
            .with_state(requests.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Throttler {
            endpoint,
            requests,
            task,
        }
    }

    /// HTTP requests received (every SDK attempt).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Throttler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn throttle(
    State(requests): State<Arc<AtomicUsize>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    requests.fetch_add(1, Ordering::SeqCst);
    aws_error_response(
        &headers,
        &body,
        StatusCode::BAD_REQUEST,
        "Throttling",
        "Rate exceeded",
    )
}

/// An AWS error answer in the protocol of the request (JSON, EC2 query, other query), as AWS
/// spells it: code `Throttling` becomes each protocol's throttling code; 5xx are the
/// receiver's fault, the rest the sender's.
pub fn aws_error_response(
    headers: &HeaderMap,
    body: &str,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    let throttling = code == "Throttling";
    let (content_type, text) = if headers.contains_key("x-amz-target") {
        let code = if throttling {
            "ThrottlingException"
        } else {
            code
        };
        (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        )
    } else if body.contains("Version=2016-11-15") {
        let code = if throttling {
            "RequestLimitExceeded"
        } else {
            code
        };
        (
            "text/xml",
            format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r</RequestID></Response>"
            ),
        )
    } else {
        let kind = if status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            ),
        )
    };
    (status, [(header::CONTENT_TYPE, content_type)], text).into_response()
}
