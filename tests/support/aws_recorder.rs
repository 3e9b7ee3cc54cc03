//! A recording proxy in front of an AWS emulator, on 127.0.0.1: every request is forwarded
//! unchanged and logged with when it arrived, the access key it was signed with (each
//! controller replica gets its own, so writes can be told apart) and its operation.
//!
//! With [`Faults`] it also fails a share of the requests, as AWS does on a bad day: throttling
//! (before forwarding), 500/503 before forwarding, 500 *after* forwarding (the call took effect
//! but its answer is lost, so a retry meets its own result), and slow answers.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::rng::Rng;

/// An injected failure, in the request's protocol.
fn error(headers: &HeaderMap, body: &str, status: StatusCode, code: &str) -> Response {
    super::throttle::aws_error_response(headers, body, status, code, "injected fault")
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Call {
    pub at: SystemTime,
    pub access_key: String,
    pub operation: String,
    pub body: String,
}

impl Call {
    /// Whether the call changes AWS (by the operation's verb).
    pub fn is_mutating(&self) -> bool {
        const READ: [&str; 3] = ["Describe", "Get", "List"];
        !READ.iter().any(|verb| self.operation.starts_with(verb))
    }
}

pub struct Recorder {
    pub endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
    timings: Arc<Mutex<Vec<(String, Duration)>>>,
    faults: Option<Arc<Mutex<FaultState>>>,
    refusals: Arc<Mutex<Vec<Refusal>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Upstream {
    addr: String,
    calls: Arc<Mutex<Vec<Call>>>,
    timings: Arc<Mutex<Vec<(String, Duration)>>>,
    faults: Option<Arc<Mutex<FaultState>>>,
    refusals: Arc<Mutex<Vec<Refusal>>>,
}

/// An operation the proxy answers with an AWS error (HTTP 400) instead of forwarding it, as AWS
/// refuses a request it cannot take yet ([`Recorder::refuse`]).
#[derive(Clone, Debug)]
struct Refusal {
    operation: String,
    code: String,
    message: String,
}

/// Which share of requests fails, and how it is chosen.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Share of requests that get a fault, 0.0..=1.0.
    pub rate: f64,
    pub seed: u64,
}

struct FaultState {
    rate: f64,
    rng: Rng,
    injected: Vec<(String, &'static str)>,
}

impl FaultState {
    /// The fault for the next request, if any.
    fn pick(&mut self, operation: &str) -> Option<&'static str> {
        if self.rng.unit() >= self.rate {
            return None;
        }
        let kind = match self.rng.below(5) {
            0 => "throttle",
            1 => "503-before",
            2 => "500-before",
            3 => "500-after",
            _ => "slow",
        };
        self.injected.push((operation.to_owned(), kind));
        Some(kind)
    }
}

impl Recorder {
    /// Starts the proxy in front of `upstream` (an `http://host:port` endpoint).
    pub async fn start(upstream: &str) -> Recorder {
        Self::start_with(upstream, None).await
    }

    /// Starts the proxy, failing requests as `faults` says.
    pub async fn start_with(upstream: &str, faults: Option<Faults>) -> Recorder {
        let addr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let timings = Arc::new(Mutex::new(Vec::new()));
        let refusals = Arc::new(Mutex::new(Vec::new()));
        let faults = faults.map(|f| {
            Arc::new(Mutex::new(FaultState {
                rate: f.rate,
                rng: Rng::new(f.seed),
                injected: Vec::new(),
            }))
        });
        let app = Router::new().fallback(forward).with_state(Upstream {
            addr,
            calls: calls.clone(),
            timings: timings.clone(),
            faults: faults.clone(),
            refusals: refusals.clone(),
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Recorder {
            endpoint,
            calls,
            timings,
            faults,
            refusals,
            task,
        }
    }

    /// From now on, answers every `operation` request with the AWS error `code` (HTTP 400,
    /// `message`) without forwarding it; the request is still recorded.
    pub fn refuse(&self, operation: &str, code: &str, message: &str) {
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Refusal {
                operation: operation.to_owned(),
                code: code.to_owned(),
                message: message.to_owned(),
            });
    }

    /// Forwards every request again ([`Recorder::refuse`]).
    pub fn stop_refusing(&self) {
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The faults injected so far: `(operation, kind)`.
    pub fn injected(&self) -> Vec<(String, &'static str)> {
        self.faults.as_ref().map_or_else(Vec::new, |f| {
            f.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .injected
                .clone()
        })
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests arrived so far (cheaper than `calls().len()`).
    pub fn count(&self) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The requests from the `start`-th on (as [`Recorder::count`] numbers them).
    pub fn calls_from(&self, start: usize) -> Vec<Call> {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.get(start..).map(<[Call]>::to_vec).unwrap_or_default()
    }

    /// When the last request arrived.
    pub fn last_at(&self) -> Option<SystemTime> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .map(|c| c.at)
    }

    /// `(operation, time)` of every request forwarded upstream and answered so far, in the
    /// order they were answered: the upstream's round trip as the proxy saw it (connect,
    /// send, the whole answer), not counting refused or injected failures.
    pub fn timings(&self) -> Vec<(String, Duration)> {
        self.timings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `Action=X` of a query-protocol body, or the `X-Amz-Target` operation of a JSON one.
fn operation(headers: &HeaderMap, body: &str) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("")
        .to_owned()
}

fn access_key(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split('/').next())
        .unwrap_or("")
        .to_owned()
}

async fn forward(
    State(upstream): State<Upstream>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let op = operation(&headers, &text);
    let refusal = upstream
        .refusals
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|r| r.operation == op)
        .cloned();
    let fault = upstream
        .faults
        .as_ref()
        .and_then(|f| f.lock().unwrap_or_else(PoisonError::into_inner).pick(&op));
    upstream
        .calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Call {
            at: SystemTime::now(),
            access_key: access_key(&headers),
            operation: op,
            body: text.clone(),
        });
    if let Some(refusal) = refusal {
        return super::throttle::aws_error_response(
            &headers,
            &text,
            StatusCode::BAD_REQUEST,
            &refusal.code,
            &refusal.message,
        );
    }
    match fault {
        Some("throttle") => return error(&headers, &text, StatusCode::BAD_REQUEST, "Throttling"),
        Some("503-before") => {
            return error(
                &headers,
                &text,
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
            );
        }
        Some("500-before") => {
            return error(
                &headers,
                &text,
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
            );
        }
        Some("slow") => tokio::time::sleep(std::time::Duration::from_millis(400)).await,
        _ => {}
    }
    let started = Instant::now();
    let relayed = relay(&upstream.addr, &method, &uri, &headers, &body).await;
    upstream
        .timings
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((operation(&headers, &text), started.elapsed()));
    let answer = match relayed {
        Ok(response) => response,
        Err(e) => (StatusCode::BAD_GATEWAY, format!("recorder: {e}")).into_response(),
    };
    if fault == Some("500-after") {
        // The call took effect; its answer is lost.
        return error(
            &headers,
            &text,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
        );
    }
    answer
}

/// One HTTP/1.1 exchange with the upstream on a fresh connection.
async fn relay(
    addr: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        if matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        ) {
            continue;
        }
        head.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut payload = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let mut builder = Response::builder().status(status);
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "transfer-encoding" {
            chunked = value.trim().eq_ignore_ascii_case("chunked");
            continue;
        }
        if matches!(name.as_str(), "connection" | "content-length") {
            continue;
        }
        builder = builder.header(name, value.trim());
    }
    if chunked {
        payload = dechunk(&payload);
    }
    builder
        .body(axum::body::Body::from(payload))
        .map_err(std::io::Error::other)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[(end + 4 + size).min(data.len())..];
    }
    out
}
