//! A moto server for tests: one per test process, started on first use on a free port of
//! 127.0.0.1 and killed (by PID) when the last test using it drops its handle. Tests share it
//! in parallel; each gets its own AWS account through the `x-moto-account-id` header, so their
//! resources never meet.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_load_balancer_controller::deploy::AwsClients;
use aws_sdk_ec2::config::{
    ConfigBag, Credentials, Intercept, RuntimeComponents, SharedInterceptor,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;

pub const REGION: &str = "us-west-2";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Where `make venv` installs moto.
fn moto_server_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
}

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    child: Mutex<Child>,
    pid: u32,
    endpoint: String,
    log: PathBuf,
}

static SHARED: Mutex<Weak<MotoServer>> = Mutex::new(Weak::new());

impl MotoServer {
    /// The process-wide server, started if no test holds it.
    pub fn shared() -> Arc<MotoServer> {
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = slot.upgrade() {
            return server;
        }
        let server = Arc::new(MotoServer::start());
        *slot = Arc::downgrade(&server);
        server
    }

    fn start() -> MotoServer {
        let program = moto_server_path();
        assert!(
            program.exists(),
            "{} not found: run `make venv` first (it installs moto from requirements-test.txt)",
            program.display()
        );
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            listener.local_addr().expect("local address").port()
        };
        let log = std::env::temp_dir().join(format!("moto-{}-{port}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).expect("create moto log file");
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let server = MotoServer {
            pid: child.id(),
            child: Mutex::new(child),
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready(SocketAddr::from(([127, 0, 0, 1], port)));
        server
    }

    fn wait_ready(&self, addr: SocketAddr) {
        let started = Instant::now();
        loop {
            if answers(addr) {
                return;
            }
            if let Ok(Some(status)) = self
                .child
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_wait()
            {
                panic!(
                    "moto_server exited with {status} before answering; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "moto_server did not answer on {addr} within {READY_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }
}

/// Whether an HTTP server answers on `addr`.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        // `Child::kill` signals exactly this PID.
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Puts every request into one moto account.
#[derive(Debug)]
pub struct MotoAccount(pub String);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// A fresh 12-digit account ID, distinct within this process.
pub fn new_account_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = u64::from(std::process::id()) % 100_000;
    format!("{:012}", 100_000_000_000 + pid * 10_000 + n)
}

/// SDK configuration for the server: explicit region, endpoint and fake credentials, quick
/// retries.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .load()
        .await
}

/// One account on the shared server, with clients that count their calls.
pub struct Account {
    pub server: Arc<MotoServer>,
    pub id: String,
    pub clients: AwsClients,
}

impl Account {
    pub async fn new() -> Account {
        let server = MotoServer::shared();
        let id = new_account_id();
        let sdk = sdk_config(server.endpoint()).await;
        let clients = AwsClients::new(&sdk, &[SharedInterceptor::new(MotoAccount(id.clone()))]);
        Account {
            server,
            id,
            clients,
        }
    }
}
