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
    let (content_type, body) = if headers.contains_key("x-amz-target") {
        (
            "application/x-amz-json-1.1",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
        )
    } else if body.contains("Version=2016-11-15") {
        (
            "text/xml",
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>".to_owned(),
        )
    } else {
        (
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>".to_owned(),
        )
    };
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response()
}
