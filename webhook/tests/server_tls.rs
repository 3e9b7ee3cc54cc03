//! The webhook server over real TLS on 127.0.0.1: status codes, protocol versions, ALPN,
//! certificate reload (plain files and the Secret-volume `..data` symlink swap), readiness,
//! graceful shutdown, and clients that misbehave (handshakes never finished, headers or bodies
//! never completed, more connections than the cap). Certificates are generated at test time.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion, version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use contract::cluster::StaticCluster;
use webhook::admission::{Admission, Endpoint, WebhookConfig};
use webhook::metrics::WebhookMetrics;
use webhook::server::{self, ServerError, TlsSettings};

const POLL: Duration = Duration::from_millis(100);

/// A test CA and leaf certificates for `localhost` signed by it.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Pki {
            ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    fn client(
        &self,
        versions: &[&'static SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let mut config = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

fn write_files(dir: &Path, leaf: &Leaf) {
    std::fs::write(dir.join("tls.crt"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.join("tls.key"), &leaf.key_pem).unwrap();
}

/// Lay out `leaf` the way the kubelet projects a Secret: the files live in a timestamped
/// directory, `..data` points at it, and `tls.crt`/`tls.key` point into `..data`. A later call
/// swaps `..data` atomically to a new directory and removes the old one.
fn write_secret_volume(dir: &Path, generation: &str, leaf: &Leaf) {
    let data_dir = format!("..{generation}");
    std::fs::create_dir(dir.join(&data_dir)).unwrap();
    write_files(&dir.join(&data_dir), leaf);
    let previous = std::fs::read_link(dir.join("..data")).ok();
    std::os::unix::fs::symlink(&data_dir, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        if std::fs::symlink_metadata(dir.join(file)).is_err() {
            std::os::unix::fs::symlink(format!("..data/{file}"), dir.join(file)).unwrap();
        }
    }
    if let Some(previous) = previous {
        std::fs::remove_dir_all(dir.join(previous)).unwrap();
    }
}

struct Running {
    addr: SocketAddr,
    ready: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("server stops within its grace period")
            .unwrap();
    }
}

fn class(name: &str, controller: &str) -> Arc<k8s_openapi::api::networking::v1::IngressClass> {
    Arc::new(
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"controller": controller}
        }))
        .unwrap(),
    )
}

fn admission() -> Admission {
    let cluster = Arc::new(StaticCluster {
        ingress_classes: vec![
            class("alb", "ingress.k8s.aws/alb"),
            class("nginx", "k8s.io/ingress-nginx"),
        ],
        ..StaticCluster::default()
    });
    Admission {
        cluster: cluster.clone(),
        target_groups: cluster,
        config: Arc::new(WebhookConfig::default()),
        group_check: None,
    }
}

async fn start(dir: &Path) -> Running {
    start_with(
        dir,
        server::ServerLimits::default(),
        server::BODY_READ_TIMEOUT,
        Arc::default(),
    )
    .await
}

async fn start_with(
    dir: &Path,
    limits: server::ServerLimits,
    body_read_timeout: Duration,
    metrics: Arc<WebhookMetrics>,
) -> Running {
    let settings = TlsSettings {
        reload_interval: POLL,
        ..TlsSettings::in_dir(dir)
    };
    let bound = server::bind("127.0.0.1:0".parse().unwrap(), settings)
        .await
        .unwrap()
        .with_limits(limits);
    let addr = bound.local_addr();
    let ready = bound.ready();
    let router = server::router_with_limits(
        admission(),
        metrics,
        server::MAX_BODY_BYTES,
        body_read_timeout,
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(bound.serve(router, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        ready,
        stop: Some(stop),
        task,
    }
}

async fn connect(addr: SocketAddr, config: ClientConfig) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn peer_leaf(tls: &TlsStream<TcpStream>) -> Vec<u8> {
    let certs: &[CertificateDer<'_>] = tls.get_ref().1.peer_certificates().unwrap();
    certs[0].to_vec()
}

/// Connect until the server presents `want` (or fail after 10 s).
async fn wait_for_leaf(addr: SocketAddr, pki: &Pki, want: &Leaf) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tls = connect(addr, pki.client(&[&version::TLS13], &[]))
            .await
            .unwrap();
        if peer_leaf(&tls) == want.der {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "new certificate not served within 10 s"
        );
        tokio::time::sleep(POLL / 2).await;
    }
}

type H1 = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn http1(tls: TlsStream<TcpStream>) -> H1 {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

fn post(path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

async fn answer<B>(response: hyper::Response<B>) -> (StatusCode, String)
where
    B: hyper::body::Body,
    B::Error: std::fmt::Debug,
{
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn status_codes_over_one_keep_alive_http1_connection() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    write_files(dir.path(), &pki.leaf());
    let server = start(dir.path()).await;

    let tls = connect(server.addr, pki.client(&[&version::TLS13], &[b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut h1 = http1(tls).await;
    let path = Endpoint::ValidateIngress.path();

    let (status, body) = answer(h1.send_request(post(path, "garbage")).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("AdmissionReview"), "{body}");

    let (status, _) = answer(h1.send_request(post("/nope", "{}")).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let huge = vec![b' '; server::MAX_BODY_BYTES + 1];
    let (status, body) = answer(h1.send_request(post(path, huge)).await.unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    // Still the same connection after all of that, if the server kept it open.
    if h1.ready().await.is_ok() {
        let (status, _) = answer(h1.send_request(post(path, "[]")).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    server.stop().await;
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    write_files(dir.path(), &pki.leaf());
    let server = start(dir.path()).await;

    let tls = connect(
        server.addr,
        pki.client(&[&version::TLS13], &[b"h2", b"http/1.1"]),
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = Request::post(format!(
        "https://localhost{}",
        Endpoint::ValidateIngress.path()
    ))
    .header("content-type", "application/json")
    .body(Full::new(Bytes::from_static(b"garbage")))
    .unwrap();
    let (status, _) = answer(h2.send_request(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    server.stop().await;
}

#[tokio::test]
async fn tls12_is_accepted_and_tls11_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    write_files(dir.path(), &pki.leaf());
    let server = start(dir.path()).await;

    let tls = connect(server.addr, pki.client(&[&version::TLS12], &[]))
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    let tls = connect(
        server.addr,
        pki.client(&[&version::TLS13, &version::TLS12], &[]),
    )
    .await
    .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );

    // rustls cannot speak TLS 1.1, so send ClientHellos by hand. The same hello saying
    // TLS 1.2 gets a ServerHello (type 22), which shows only the version differs.
    let reply = raw_hello(server.addr, [0x03, 0x03]).await;
    assert_eq!(
        reply.first(),
        Some(&22),
        "want a handshake record, got {reply:?}"
    );
    // An alert record: type 21, version, length 2, level fatal (2), protocol_version (70).
    let reply = raw_hello(server.addr, [0x03, 0x02]).await;
    assert!(reply.len() >= 7, "no alert, got {reply:?}");
    assert_eq!(reply[0], 21, "want an alert record, got {reply:?}");
    assert_eq!(
        &reply[5..7],
        &[2, 70],
        "want a fatal protocol_version alert, got {reply:?}"
    );
    server.stop().await;
}

/// Send a ClientHello with `client_version` and no `supported_versions` extension; return the
/// first bytes the server answers with.
async fn raw_hello(addr: SocketAddr, client_version: [u8; 2]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&client_hello(client_version)).await.unwrap();
    let mut reply = vec![0; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut reply))
        .await
        .expect("server answers the hello")
        .unwrap();
    reply.truncate(n);
    reply
}

/// A ClientHello offering ECDHE-GCM and CBC suites, x25519/P-256 and common signature
/// algorithms: what a TLS 1.2 server needs, so only `client_version` decides the outcome.
fn client_hello(client_version: [u8; 2]) -> Vec<u8> {
    let host = b"localhost";
    let mut extensions = Vec::new();
    // server_name
    let name_len = host.len() as u16;
    extensions.extend_from_slice(&[0x00, 0x00]);
    extensions.extend_from_slice(&(name_len + 5).to_be_bytes());
    extensions.extend_from_slice(&(name_len + 3).to_be_bytes());
    extensions.push(0);
    extensions.extend_from_slice(&name_len.to_be_bytes());
    extensions.extend_from_slice(host);
    // supported_groups: x25519, secp256r1
    extensions.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]);
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
    extensions.extend_from_slice(&[0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04]);
    extensions.extend_from_slice(&[0x04, 0x01]);
    // ec_point_formats: uncompressed
    extensions.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);

    let suites: [u16; 6] = [0xc02b, 0xc02f, 0xc009, 0xc013, 0x002f, 0x0035];
    let mut hello = client_version.to_vec();
    hello.extend_from_slice(&[0x5a; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        hello.extend_from_slice(&suite.to_be_bytes());
    }
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(&extensions);

    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn rewritten_files_are_reloaded_and_a_corrupt_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (a, b) = (pki.leaf(), pki.leaf());
    write_files(dir.path(), &a);
    let server = start(dir.path()).await;
    let client = || pki.client(&[&version::TLS13], &[]);
    assert_eq!(
        peer_leaf(&connect(server.addr, client()).await.unwrap()),
        a.der
    );

    // A corrupt certificate: several polls later A is still served.
    std::fs::write(
        dir.path().join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    )
    .unwrap();
    tokio::time::sleep(POLL * 5).await;
    assert_eq!(
        peer_leaf(&connect(server.addr, client()).await.unwrap()),
        a.der
    );

    // Rotation completes: B is served without a restart.
    write_files(dir.path(), &b);
    wait_for_leaf(server.addr, &pki, &b).await;
    server.stop().await;
}

#[tokio::test]
async fn secret_volume_symlink_swap_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (a, b, c) = (pki.leaf(), pki.leaf(), pki.leaf());
    write_secret_volume(dir.path(), "2026_01_01_00_00_00.1", &a);
    let server = start(dir.path()).await;
    let client = || pki.client(&[&version::TLS13], &[]);
    assert_eq!(
        peer_leaf(&connect(server.addr, client()).await.unwrap()),
        a.der
    );

    write_secret_volume(dir.path(), "2026_02_01_00_00_00.2", &b);
    wait_for_leaf(server.addr, &pki, &b).await;
    // And a second rotation (file watches on the old paths would have gone stale by now).
    write_secret_volume(dir.path(), "2026_03_01_00_00_00.3", &c);
    wait_for_leaf(server.addr, &pki, &c).await;
    server.stop().await;
}

#[tokio::test]
async fn readiness_follows_the_server_and_shutdown_is_graceful() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    write_files(dir.path(), &pki.leaf());
    let mut server = start(dir.path()).await;
    tokio::time::timeout(
        Duration::from_secs(5),
        server.ready.wait_for(|ready| *ready),
    )
    .await
    .unwrap()
    .unwrap();

    // An idle keep-alive connection does not hold shutdown up.
    let tls = connect(server.addr, pki.client(&[&version::TLS13], &[b"http/1.1"]))
        .await
        .unwrap();
    let mut h1 = http1(tls).await;
    let (status, _) = answer(h1.send_request(post("/x", "{}")).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let mut ready = server.ready.clone();
    let addr = server.addr;
    server.stop().await;
    assert!(!*ready.borrow_and_update());
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener still open"
    );
}

#[tokio::test]
async fn bind_fails_without_a_usable_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let err = server::bind(addr, TlsSettings::in_dir(dir.path()))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ServerError::Tls(_)), "{err}");
    assert!(err.to_string().contains("tls.crt"), "{err}");
}

/// Reads until the server closes the connection; `false` if it is still open after `within`.
async fn closed_by_server(stream: &mut (impl AsyncReadExt + Unpin), within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A well-formed review of an Ingress of another class (allowed): the request a healthy API
/// server sends.
fn good_review() -> String {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "operation": "CREATE",
            "namespace": "shop",
            "name": "web",
            "object": {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"ingressClassName": "nginx"}
            }
        }
    })
    .to_string()
}

async fn review_ok(addr: SocketAddr, pki: &Pki) -> (StatusCode, String) {
    let tls = connect(addr, pki.client(&[&version::TLS13], &[b"http/1.1"]))
        .await
        .unwrap();
    let mut h1 = http1(tls).await;
    answer(
        h1.send_request(post(Endpoint::ValidateIngress.path(), good_review()))
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn stalled_handshakes_are_dropped_and_others_are_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    write_files(dir.path(), &pki.leaf());
    let limits = server::ServerLimits {
        handshake_timeout: Duration::from_millis(300),
        ..server::ServerLimits::default()
    };
    let server = start_with(
        dir.path(),
        limits,
        server::BODY_READ_TIMEOUT,
        Arc::default(),
    )
    .await;

    // Fifty clients connect and never say hello; half of them send half a ClientHello.
    let mut stalled = Vec::new();
    for i in 0..50 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 1 {
            let hello = client_hello([3, 3]);
            tcp.write_all(&hello[..hello.len() / 2]).await.unwrap();
        }
        stalled.push(tcp);
    }
    // A well-behaved client is answered meanwhile.
    let (status, body) = review_ok(server.addr, &pki).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""allowed":true"#), "{body}");
    // Every stalled connection is closed by the server.
    for tcp in &mut stalled {
        assert!(closed_by_server(tcp, Duration::from_secs(5)).await);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_request_whose_headers_or_body_never_complete_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    write_files(dir.path(), &pki.leaf());
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Arc::new(WebhookMetrics::register(&mut registry));
    let limits = server::ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        ..server::ServerLimits::default()
    };
    let server = start_with(
        dir.path(),
        limits,
        Duration::from_millis(300),
        metrics.clone(),
    )
    .await;
    let path = Endpoint::ValidateIngress.path();

    // Headers begun, never finished: the connection is closed.
    let mut slow = connect(server.addr, pki.client(&[&version::TLS13], &[b"http/1.1"]))
        .await
        .unwrap();
    slow.write_all(format!("POST {path} HTTP/1.1\r\nhost: localhost\r\n").as_bytes())
        .await
        .unwrap();
    assert!(closed_by_server(&mut slow, Duration::from_secs(5)).await);

    // A body announced at 1000 bytes, 10 sent: 408 with the reason, counted.
    let mut trickle = connect(server.addr, pki.client(&[&version::TLS13], &[b"http/1.1"]))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"apiVers"
    );
    trickle.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&response).contains("within") {
            let n = trickle.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        response.contains("request body not received within 300 ms"),
        "{response}"
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains(r#"decision="request_timeout""#), "{text}");

    // The server still answers.
    let (status, _) = review_ok(server.addr, &pki).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    write_files(dir.path(), &pki.leaf());
    let limits = server::ServerLimits {
        handshake_timeout: Duration::from_secs(30),
        max_connections: 3,
        ..server::ServerLimits::default()
    };
    let server = start_with(
        dir.path(),
        limits,
        server::BODY_READ_TIMEOUT,
        Arc::default(),
    )
    .await;

    // Three idle TCP connections hold every slot.
    let mut holders = Vec::new();
    for _ in 0..3 {
        holders.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fourth client is accepted by the kernel but not served: its handshake gets no answer.
    let waiting = tokio::spawn({
        let config = pki.client(&[&version::TLS13], &[b"http/1.1"]);
        let addr = server.addr;
        async move { connect(addr, config).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served beyond the connection cap");
    // One holder leaves: the waiting client gets the slot and is served.
    drop(holders.pop());
    let tls = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a slot is free")
        .unwrap()
        .unwrap();
    let mut h1 = http1(tls).await;
    let (status, _) = answer(
        h1.send_request(post(Endpoint::ValidateIngress.path(), good_review()))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    drop(holders);
    server.stop().await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_harm() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    write_files(dir.path(), &pki.leaf());
    let server = start(dir.path()).await;
    let tls = connect(server.addr, pki.client(&[&version::TLS13], &[b"http/1.1"]))
        .await
        .unwrap();
    let mut h1 = http1(tls).await;
    let path = Endpoint::ValidateIngress.path();

    // The whole body nested a million deep: 400, not a stack overflow.
    let nested = "[".repeat(1_000_000);
    let (status, body) = answer(h1.send_request(post(path, nested)).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // An annotation value nested 100,000 deep inside a valid review: denied with a reason.
    let mut review: serde_json::Value = serde_json::from_str(&good_review()).unwrap();
    review["request"]["object"]["spec"]["ingressClassName"] = "alb".into();
    review["request"]["object"]["metadata"]["annotations"] = serde_json::json!({
        "alb.ingress.kubernetes.io/listen-ports": "[".repeat(100_000),
        "alb.ingress.kubernetes.io/actions.web": "{\"a\":".repeat(100_000),
    });
    if h1.ready().await.is_err() {
        let tls = connect(server.addr, pki.client(&[&version::TLS13], &[b"http/1.1"]))
            .await
            .unwrap();
        h1 = http1(tls).await;
    }
    let (status, body) = answer(
        h1.send_request(post(path, review.to_string()))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""allowed":false"#), "{body}");
    assert!(body.contains("listen-ports"), "{body}");
    server.stop().await;
}
