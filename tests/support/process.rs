//! Helpers for tests that run the controller binary as a child process: free ports, a plain
//! HTTP GET, the webhook's certificate, and a SIGTERM that only ever reaches our own child.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A port nothing listens on at the moment, on `bind`.
pub fn free_port(bind: IpAddr) -> u16 {
    TcpListener::bind((bind, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `N` distinct ports nothing listens on at the moment, on 127.0.0.1 (all held open until
/// every one is chosen, so no two are the same).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind(("127.0.0.1", 0)).expect("a free port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("a bound address").port())
}

/// `GET path` on 127.0.0.1:port: the status code and the whole response, if anything answered.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text))
}

/// The CA a webhook's serving certificate is signed by.
pub struct WebhookCa {
    /// For a webhook configuration's caBundle.
    pub pem: String,
    /// For a TLS client's root store.
    pub der: rustls::pki_types::CertificateDer<'static>,
}

/// A CA and a serving certificate it signs for `localhost` and `host`, written to `dir` as
/// tls.crt / tls.key (the names `--webhook-cert-dir` expects).
pub fn webhook_certificate(dir: &Path, host: IpAddr) -> WebhookCa {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("self-signed CA");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params.subject_alt_names.push(SanType::IpAddress(host));
    let key = KeyPair::generate().expect("serving key");
    let cert = params.signed_by(&key, &ca).expect("serving certificate");
    std::fs::write(dir.join("tls.crt"), cert.pem()).expect("write tls.crt");
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).expect("write tls.key");
    WebhookCa {
        pem: ca.pem(),
        der: ca.der().clone(),
    }
}

/// Sends SIGTERM to our own child (by its PID) and waits up to `grace` for it to exit; `None`
/// when it still runs (the caller decides whether to kill it).
pub fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
