//! A real Kubernetes control plane for tests: kube-apiserver, etcd and
//! kube-controller-manager built from the Kubernetes Go modules (`tests/cluster`), started on
//! 127.0.0.1 with its own PKI and RBAC, one per test (about 5 s), and stopped by its PID when
//! the test drops it (the control plane also watches our PID and stops itself if we die).
//!
//! One per test, because two controllers on one cluster both reconcile every `alb` Ingress
//! and every TargetGroupBinding, as upstream's would: tests running side by side must not
//! share an API server.
//!
//! `E2E_CLUSTER=kubeconfig` uses the cluster in `KUBECONFIG` instead (`make e2e`, one test at
//! a time); a `KUBECONFIG` that is merely set never redirects the tests to a real cluster.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The annotation that routes the API server's calls for a Service (webhooks) to a port of
/// 127.0.0.1 (there is no kube-proxy; see `tests/cluster/egress.go`).
pub const FORWARD_ANNOTATION: &str = "testcluster.awslbc.test/forward-to-port";

#[derive(Debug)]
pub struct TestCluster {
    pub kubeconfig: PathBuf,
    /// The control plane we started (None for an external cluster).
    process: Mutex<Option<(Child, ChildStdout)>>,
    /// Where its logs are.
    pub dir: Option<PathBuf>,
}

impl TestCluster {
    /// A control plane of its own (or the external cluster with `E2E_CLUSTER=kubeconfig`).
    pub fn start() -> TestCluster {
        if std::env::var("E2E_CLUSTER").as_deref() == Ok("kubeconfig") {
            let kubeconfig = std::env::var_os("KUBECONFIG")
                .map(PathBuf::from)
                .expect("E2E_CLUSTER=kubeconfig needs KUBECONFIG");
            return TestCluster {
                kubeconfig,
                process: Mutex::new(None),
                dir: None,
            };
        }
        start()
    }

    /// An admin client.
    pub async fn client(&self) -> Client {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("read the kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("client configuration from the kubeconfig");
        Client::try_from(config).expect("a kube client")
    }

    /// The API server's URL and CA (PEM), for kubeconfigs of other identities.
    pub fn server_and_ca(&self) -> (String, String) {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("read the kubeconfig");
        let cluster = kubeconfig
            .clusters
            .into_iter()
            .next()
            .and_then(|c| c.cluster)
            .expect("a cluster in the kubeconfig");
        let ca = cluster
            .certificate_authority_data
            .map(|b64| {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64 CA");
                String::from_utf8(bytes).expect("PEM CA")
            })
            .or_else(|| {
                cluster
                    .certificate_authority
                    .map(|p| std::fs::read_to_string(p).expect("read the CA file"))
            })
            .expect("the cluster's CA");
        (cluster.server.expect("server URL"), ca)
    }

    /// The PID of the control plane process we started (`testcluster up`, which runs etcd and
    /// has kube-apiserver and kube-controller-manager as its children); `None` for an external
    /// cluster.
    pub fn pid(&self) -> Option<u32> {
        self.process
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(child, _)| child.id())
    }

    /// Stops the control plane we started (SIGTERM by PID, then SIGKILL after 15 s).
    pub fn stop(&self) {
        let mut slot = self.process.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((mut child, _stdout)) = slot.take()
            && super::process::terminate(&mut child, std::time::Duration::from_secs(15)).is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `testcluster` binary: `TESTCLUSTER_BIN` (the Makefile builds it and sets this), else
/// built (or found in its cache) by `tests/cluster/build.sh`.
fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("TESTCLUSTER_BIN") {
        return PathBuf::from(bin);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/cluster/build.sh (needs Go)");
    assert!(
        out.status.success(),
        "tests/cluster/build.sh failed: {}",
        out.status
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn start() -> TestCluster {
    // Unique per process and per start: tests start their control planes side by side.
    static STARTED: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "testcluster-{}-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("control plane directory");
    let mut child = Command::new(binary())
        .arg("up")
        .arg("--dir")
        .arg(&dir)
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the test control plane");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    let kubeconfig = loop {
        line.clear();
        let read = stdout.read_line(&mut line).unwrap_or(0);
        if read == 0 {
            let status = child.wait().ok();
            panic!(
                "the test control plane exited before it was ready ({status:?}); logs in {}",
                dir.display()
            );
        }
        if let Some(path) = line.trim().strip_prefix("ready ") {
            break PathBuf::from(path);
        }
    };
    eprintln!("test control plane up: {}", dir.display());
    TestCluster {
        kubeconfig,
        process: Mutex::new(Some((child, stdout.into_inner()))),
        dir: Some(dir),
    }
}
