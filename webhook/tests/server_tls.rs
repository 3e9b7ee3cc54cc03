//! The webhook server over real TLS on 127.0.0.1: status codes, protocol versions, ALPN,
//! certificate reload (plain files and the Secret-volume `..data` symlink swap), readiness and
//! graceful shutdown. Certificates are generated at test time.

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

fn admission() -> Admission {
    let cluster = Arc::new(StaticCluster::default());
    Admission {
        cluster: cluster.clone(),
        target_groups: cluster,
        config: Arc::new(WebhookConfig::default()),
        group_check: None,
    }
}

async fn start(dir: &Path) -> Running {
    let settings = TlsSettings {
        reload_interval: POLL,
        ..TlsSettings::in_dir(dir)
    };
    let bound = server::bind("127.0.0.1:0".parse().unwrap(), settings)
        .await
        .unwrap();
    let addr = bound.local_addr();
    let ready = bound.ready();
    let router = server::router(admission(), Arc::new(WebhookMetrics::default()));
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
