//! A moto server for tests: one per test process, started on first use on a free port of
//! 127.0.0.1 and killed (by PID) when the last test using it drops its handle. Tests share it
//! in parallel; each gets its own AWS account through the `x-moto-account-id` header, so their
//! resources never meet.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_io::AwsClients;
use aws_load_balancer_controller::demo::{MOTO_SERVER, Moto};
use aws_sdk_ec2::config::{
    ConfigBag, Credentials, Intercept, RuntimeComponents, SharedInterceptor,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;

pub const REGION: &str = "us-west-2";

/// Where `make venv` installs moto.
fn moto_server_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(MOTO_SERVER)
}

/// The process-wide moto server: the library's launcher (the one `make run` uses), with its
/// output kept in a log file while it runs.
#[derive(Debug)]
pub struct MotoServer {
    moto: Moto,
}

static SHARED: Mutex<Weak<MotoServer>> = Mutex::new(Weak::new());

impl MotoServer {
    /// The process-wide server, started if no test holds it.
    pub fn shared() -> Arc<MotoServer> {
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = slot.upgrade() {
            return server;
        }
        let log = std::env::temp_dir().join(format!(
            "moto-{}-{}.log",
            std::process::id(),
            new_account_id()
        ));
        let moto = Moto::start_with(&moto_server_path(), Some(&log))
            .unwrap_or_else(|e| panic!("{e} (run `make venv` first: it installs moto)"));
        let server = Arc::new(MotoServer { moto });
        *slot = Arc::downgrade(&server);
        server
    }

    pub fn endpoint(&self) -> &str {
        &self.moto.endpoint
    }

    pub fn pid(&self) -> u32 {
        self.moto.pid()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // The process itself is killed by `Moto`'s own drop, right after this.
        if let Some(log) = &self.moto.log {
            let _ = std::fs::remove_file(log);
        }
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
