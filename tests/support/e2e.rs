//! The end-to-end harness: the real controller binary as a child process, against the test
//! control plane (`support::cluster`) and moto. Shared by the e2e suite and the chart test.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_io::AwsClients;
use base64::Engine as _;
use contract::crd::{IngressClassParams, TargetGroupBinding};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde::Deserialize as _;
use serde_json::json;

use super::cluster::TestCluster;
use super::moto::MotoServer;
use super::process::{WebhookCa, free_port, free_ports, http_get, terminate, webhook_certificate};

pub const MANAGER: &str = "lbc-e2e";
pub const TIMEOUT: Duration = Duration::from_secs(180);
pub const STACK_TAG: &str = "ingress.k8s.aws/stack";
pub const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// `name` as an IP address, 127.0.0.1 when unset.
fn env_ip(name: &str) -> IpAddr {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")))
        .unwrap_or(LOOPBACK)
}

/// Where the API server calls the webhook: 127.0.0.1, or `E2E_WEBHOOK_HOST` for an external
/// cluster (`make e2e`) that cannot reach this machine's loopback.
pub fn webhook_host() -> IpAddr {
    env_ip("E2E_WEBHOOK_HOST")
}

/// Where the webhook listens: 127.0.0.1, or `E2E_WEBHOOK_BIND`.
pub fn webhook_bind() -> IpAddr {
    env_ip("E2E_WEBHOOK_BIND")
}

/// Polls `probe` every second until it returns a value; panics after [`TIMEOUT`].
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_every(what, Duration::from_secs(1), probe).await
}

pub async fn eventually_every<T, F, Fut>(what: &str, every: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "timed out after {TIMEOUT:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// A short random suffix for names.
pub fn suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:06x}",
        (nanos ^ std::process::id() ^ (n << 20)) & 0xff_ffff
    )
}

/// Installs (server-side applies) the CRDs from `crds/` and waits until they are established.
pub async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for entry in std::fs::read_dir(&dir).expect("crds/") {
        let path = entry.expect("a CRD file").path();
        let text = std::fs::read_to_string(&path).expect("read a CRD file");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).expect("CRD YAML");
            if value.is_null() {
                continue;
            }
            let crd: CustomResourceDefinition = serde_yaml::from_value(value).expect("a CRD");
            let name = crd.metadata.name.clone().expect("CRD name");
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|e| panic!("install CRD {name}: {e}"));
            crd_established(client, &name).await;
        }
    }
}

pub async fn crd_established(client: &Client, name: &str) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    eventually(&format!("CRD {name} established"), || {
        let api = api.clone();
        async move {
            let crd = api.get(name).await.ok()?;
            crd.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        }
    })
    .await;
}

/// ARNs of the load balancers and target groups tagged `tag=value`.
pub async fn owned_elbv2(
    clients: &AwsClients,
    tag: &str,
    value: &str,
) -> (Vec<String>, Vec<String>) {
    let lbs: Vec<String> = clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .expect("describe load balancers")
        .load_balancers()
        .iter()
        .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
        .collect();
    let tgs: Vec<String> = clients
        .elbv2
        .describe_target_groups()
        .send()
        .await
        .expect("describe target groups")
        .target_groups()
        .iter()
        .filter_map(|tg| tg.target_group_arn().map(str::to_owned))
        .collect();
    let mut mine = (Vec::new(), Vec::new());
    for (arns, out) in [(&lbs, &mut mine.0), (&tgs, &mut mine.1)] {
        for chunk in arns.chunks(20) {
            let tags = clients
                .elbv2
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .expect("describe tags");
            for desc in tags.tag_descriptions() {
                if desc
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(tag) && t.value() == Some(value))
                {
                    out.extend(desc.resource_arn().map(str::to_owned));
                }
            }
        }
    }
    mine
}

/// IDs of the security groups tagged with the stack.
pub async fn owned_security_groups(clients: &AwsClients, stack: &str) -> Vec<String> {
    super::security_groups_tagged(clients, &[(STACK_TAG, stack)]).await
}

/// Every path pattern in the rules of the load balancer's listeners.
pub async fn rule_paths(clients: &AwsClients, lb_arn: &str) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let listeners = clients
        .elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .expect("describe listeners");
    for listener in listeners.listeners() {
        let rules = clients
            .elbv2
            .describe_rules()
            .listener_arn(listener.listener_arn().unwrap_or_default())
            .send()
            .await
            .expect("describe rules");
        for rule in rules.rules() {
            for condition in rule.conditions() {
                if let Some(config) = condition.path_pattern_config() {
                    paths.extend(config.values().iter().cloned());
                }
                paths.extend(condition.values().iter().cloned());
            }
        }
    }
    paths
}

/// Everything one run of the controller needs.
pub struct Setup {
    pub id: String,
    pub namespace: String,
    pub class: String,
    pub cluster: String,
    pub vpc_id: String,
    pub aws_endpoint: String,
    pub kubeconfig: PathBuf,
    pub cert_dir: PathBuf,
    pub webhook_port: u16,
    pub log_dir: PathBuf,
}

impl Setup {
    /// A fresh id, namespace, class and cluster name; logs under `target/tmp/e2e-<id>`.
    pub fn new(cluster: &TestCluster, vpc_id: &str, aws_endpoint: &str, cert_dir: &Path) -> Setup {
        let id = suffix();
        let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{id}"));
        std::fs::create_dir_all(&log_dir).expect("log directory");
        Setup {
            namespace: format!("lbc-e2e-{id}"),
            class: format!("alb-e2e-{id}"),
            cluster: format!("e2e-{id}"),
            vpc_id: vpc_id.to_owned(),
            aws_endpoint: aws_endpoint.to_owned(),
            kubeconfig: cluster.kubeconfig.clone(),
            cert_dir: cert_dir.to_owned(),
            webhook_port: free_port(webhook_bind()),
            log_dir,
            id,
        }
    }

    /// The flags `serve` gets in these tests.
    pub fn serve_args(&self) -> Vec<String> {
        [
            ("--cluster-name", self.cluster.clone()),
            ("--ingress-class", self.class.clone()),
            ("--aws-vpc-id", self.vpc_id.clone()),
            ("--aws-region", super::moto::REGION.to_owned()),
            ("--leader-election-namespace", self.namespace.clone()),
            ("--leader-election-id", format!("lbc-e2e-{}", self.id)),
            ("--default-target-type", "instance".to_owned()),
            ("--sync-period", "60s".to_owned()),
            ("--load-balancer-class", self.load_balancer_class()),
        ]
        .into_iter()
        .map(|(flag, value)| format!("{flag}={value}"))
        .collect()
    }

    /// This run's `--load-balancer-class`: the controllers of tests running side by side on
    /// one API server must not all take the same Services.
    pub fn load_balancer_class(&self) -> String {
        format!("service.k8s.aws/nlb-e2e-{}", self.id)
    }

    pub fn create_namespace_json(&self) -> Namespace {
        serde_json::from_value(json!({"metadata": {"name": self.namespace}})).expect("namespace")
    }
}

/// How a controller process is started.
pub struct Launch<'a> {
    pub identity: &'a str,
    /// `serve`'s flags, without the per-process ports and paths (added here).
    pub args: Vec<String>,
    pub kubeconfig: &'a Path,
    pub access_key: &'a str,
    pub env: Vec<(String, String)>,
    /// The webhook's port (the setup's, which the webhook configurations name, unless a
    /// second replica runs beside the first).
    pub webhook_port: u16,
}

/// The controller binary running as a child of this test; stopped with SIGTERM (then killed)
/// when dropped. Only the process started here is ever signalled, by its PID.
pub struct ControllerProcess {
    child: Child,
    probe_port: u16,
    pub metrics_port: u16,
    pub log: PathBuf,
}

impl ControllerProcess {
    /// `serve` with the setup's flags, the admin kubeconfig and moto's test key.
    pub fn start(setup: &Setup, identity: &str) -> ControllerProcess {
        ControllerProcess::launch(
            setup,
            Launch {
                identity,
                args: setup.serve_args(),
                kubeconfig: &setup.kubeconfig,
                access_key: "testing",
                env: vec![("POD_NAMESPACE".to_owned(), setup.namespace.clone())],
                webhook_port: setup.webhook_port,
            },
        )
    }

    pub fn launch(setup: &Setup, launch: Launch<'_>) -> ControllerProcess {
        // Two ports for this process, neither of them the webhook's.
        let [probe_port, metrics_port] = loop {
            let ports = free_ports::<2>();
            if !ports.contains(&launch.webhook_port) {
                break ports;
            }
        };
        let log = setup
            .log_dir
            .join(format!("controller-{}.log", launch.identity));
        let out = std::fs::File::create(&log).expect("controller log");
        let err = out.try_clone().expect("controller log");
        let child = Command::new(env!("CARGO_BIN_EXE_aws-load-balancer-controller"))
            .arg("serve")
            .args(&launch.args)
            .arg(format!("--webhook-cert-dir={}", setup.cert_dir.display()))
            .arg(format!("--webhook-bind-addr={}", webhook_bind()))
            .arg(format!("--webhook-bind-port={}", launch.webhook_port))
            .arg(format!("--metrics-bind-addr=127.0.0.1:{metrics_port}"))
            .arg(format!("--health-probe-bind-addr=127.0.0.1:{probe_port}"))
            .env("KUBECONFIG", launch.kubeconfig)
            .env("AWS_ENDPOINT_URL", &setup.aws_endpoint)
            .env("AWS_ACCESS_KEY_ID", launch.access_key)
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("POD_NAME", launch.identity)
            .env("RUST_LOG", "info,aws_load_balancer_controller=debug")
            .envs(launch.env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start the controller binary");
        ControllerProcess {
            child,
            probe_port,
            metrics_port,
            log,
        }
    }

    /// Waits for `/readyz` (caches synced, webhook bound).
    pub async fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the controller exited ({status}) before it was ready; log: {}",
                    self.log.display()
                );
            }
            if http_get(self.probe_port, "/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "the controller was not ready within {TIMEOUT:?}; log: {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// SIGTERM, so it releases its lease and stops its workers; killed if still running after
    /// 20 s.
    pub fn stop(&mut self) {
        if terminate(&mut self.child, Duration::from_secs(20)).is_none() {
            self.kill();
        }
    }

    /// SIGKILL (our own child, by its PID): no lease release, no cleanup.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process's PID (for `/proc/<pid>/status`; never signalled from outside this type).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The text of its `/metrics` endpoint, if it answered.
    pub fn metrics(&self) -> Option<String> {
        http_get(self.metrics_port, "/metrics").map(|(_, body)| body)
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Ingress and TargetGroupBinding webhooks (validating and mutating) at `base` (the URL of
/// the controller's webhook server), only for the setup's namespace.
pub async fn register_webhooks(client: &Client, setup: &Setup, ca_pem: &str) {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let base = match webhook_host() {
        IpAddr::V4(v4) => format!("https://{v4}:{}", setup.webhook_port),
        IpAddr::V6(v6) => format!("https://[{v6}]:{}", setup.webhook_port),
    };
    let scope = json!({"matchLabels": {"kubernetes.io/metadata.name": setup.namespace}});
    let rules = json!([{"apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"], "resources": ["ingresses"]}]);
    // The controller's own TargetGroupBindings go through these too.
    let binding_rules = json!([{"apiGroups": ["elbv2.k8s.aws"], "apiVersions": ["v1beta1"],
                                "operations": ["CREATE", "UPDATE"], "resources": ["targetgroupbindings"]}]);
    let hook = |name: &str, path: &str, rules: &serde_json::Value| {
        json!({"name": name,
               "clientConfig": {"url": format!("{base}/{path}"), "caBundle": ca},
               "rules": rules, "namespaceSelector": scope, "failurePolicy": "Fail",
               "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 10})
    };
    let name = format!("lbc-e2e-{}", setup.id);
    let validating: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [hook("vingress.elbv2.k8s.aws", "validate-networking-v1-ingress", &rules),
                     hook("vtargetgroupbinding.elbv2.k8s.aws",
                          "validate-elbv2-k8s-aws-v1beta1-targetgroupbinding", &binding_rules)]
    }))
    .expect("validating configuration");
    let mutating: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [hook("mtargetgroupbinding.elbv2.k8s.aws",
                          "mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding", &binding_rules)]
    }))
    .expect("mutating configuration");
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&validating),
        )
        .await
        .expect("register the validating webhooks");
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&mutating),
        )
        .await
        .expect("register the mutating webhooks");
}

/// An Ingress `web` of `class` routing `path` to Service `web` port 80.
pub fn ingress(class: &str, path: &str, annotations: serde_json::Value) -> Ingress {
    ingress_named("web", class, path, "web", annotations)
}

pub fn ingress_named(
    name: &str,
    class: &str,
    path: &str,
    service: &str,
    annotations: serde_json::Value,
) -> Ingress {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"ingressClassName": class, "rules": [{"http": {"paths": [{
            "path": path, "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}
    }))
    .expect("an Ingress")
}

/// IngressClassParams (`scheme: internal`, `targetType`) and the IngressClass `class` using it.
pub async fn apply_class(client: &Client, class: &str, target_type: &str) {
    let icp: IngressClassParams = serde_json::from_value(json!({
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "IngressClassParams",
        "metadata": {"name": class}, "spec": {"scheme": "internal", "targetType": target_type}
    }))
    .expect("IngressClassParams");
    Api::<IngressClassParams>::all(client.clone())
        .patch(
            class,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&icp),
        )
        .await
        .expect("apply IngressClassParams");
    let ic: IngressClass = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": class},
        "spec": {"controller": "ingress.k8s.aws/alb",
                 "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": class}}
    }))
    .expect("IngressClass");
    Api::<IngressClass>::all(client.clone())
        .patch(
            class,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&ic),
        )
        .await
        .expect("apply IngressClass");
}

/// A Service `name` (port 80 → 8080, selector app=name).
pub fn service(name: &str) -> k8s_openapi::api::core::v1::Service {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .expect("a Service")
}

pub async fn create_namespace(client: &Client, name: &str) {
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace"),
        )
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

/// Removes what a scenario made in the cluster, whatever happened to it.
pub async fn cleanup(client: &Client, setup: &Setup) {
    let name = format!("lbc-e2e-{}", setup.id);
    let dp = DeleteParams::default();
    let _ = Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .delete(&name, &dp)
        .await;
    let _ = Api::<MutatingWebhookConfiguration>::all(client.clone())
        .delete(&name, &dp)
        .await;
    let _ = Api::<IngressClass>::all(client.clone())
        .delete(&setup.class, &dp)
        .await;
    let _ = Api::<IngressClassParams>::all(client.clone())
        .delete(&setup.class, &dp)
        .await;
    // Objects the controller would have released: drop their finalizers so the namespace goes.
    let unfinalize = PatchParams::default();
    let empty = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), &setup.namespace);
    if let Ok(list) = ingresses.list(&ListParams::default()).await {
        for ing in list.items {
            let name = ing.metadata.name.unwrap_or_default();
            let _ = ingresses.patch(&name, &unfinalize, &empty).await;
        }
    }
    let bindings: Api<TargetGroupBinding> = Api::namespaced(client.clone(), &setup.namespace);
    if let Ok(list) = bindings.list(&ListParams::default()).await {
        for b in list.items {
            let name = b.metadata.name.unwrap_or_default();
            let _ = bindings.patch(&name, &unfinalize, &empty).await;
        }
    }
    let _ = Api::<Namespace>::all(client.clone())
        .delete(&setup.namespace, &dp)
        .await;
}

/// An `ip` target group (HTTP:8080) in the network's VPC, made directly in AWS as a user would
/// for a TargetGroupBinding; its ARN.
pub async fn ip_target_group(clients: &AwsClients, vpc_id: &str, name: &str) -> String {
    use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
    let created = clients
        .elbv2
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .expect("create a target group");
    created
        .target_groups()
        .first()
        .and_then(|tg| tg.target_group_arn())
        .expect("the target group's ARN")
        .to_owned()
}

/// A v1beta1 TargetGroupBinding of Service `service` port 80 to the `ip` target group `arn`.
pub fn ip_binding(name: &str, service: &str, arn: &str) -> TargetGroupBinding {
    serde_json::from_value(json!({
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
        "metadata": {"name": name},
        "spec": {"targetGroupARN": arn, "targetType": "ip",
                 "serviceRef": {"name": service, "port": 80}}
    }))
    .expect("a TargetGroupBinding")
}

/// The EndpointSlice `name` of Service `service`: ready endpoints at `ips`, port `http` 8080.
pub fn endpoint_slice(
    name: &str,
    service: &str,
    ips: &[String],
) -> k8s_openapi::api::discovery::v1::EndpointSlice {
    let endpoints: Vec<serde_json::Value> = ips
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    }))
    .expect("an EndpointSlice")
}

/// `ip:port` of every target registered in the target group.
pub async fn registered_targets(clients: &AwsClients, arn: &str) -> BTreeSet<String> {
    clients
        .elbv2
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .expect("describe target health")
        .target_health_descriptions()
        .iter()
        .filter_map(|d| d.target())
        .map(|t| {
            format!(
                "{}:{}",
                t.id().unwrap_or_default(),
                t.port().unwrap_or_default()
            )
        })
        .collect()
}

/// What every e2e test starts from: the control plane, an AWS emulator with a VPC, a webhook
/// certificate, and a fresh setup (namespace, class and cluster names).
pub struct World {
    pub cluster: TestCluster,
    pub client: Client,
    pub clients: AwsClients,
    pub net: super::Network,
    pub setup: Setup,
    pub ca: WebhookCa,
    _cert_dir: tempfile::TempDir,
    _moto: Option<Arc<MotoServer>>,
}

impl World {
    /// A world whose controllers reach moto through a recording proxy (the proxy is returned;
    /// the world's own clients still go to moto directly).
    pub async fn recorded() -> (World, super::aws_recorder::Recorder) {
        let mut world = World::new().await;
        let recorder = super::aws_recorder::Recorder::start(&world.setup.aws_endpoint).await;
        world.setup.aws_endpoint = recorder.endpoint.clone();
        (world, recorder)
    }

    pub async fn new() -> World {
        let cluster = TestCluster::start();
        let client = cluster.client().await;
        let (aws_endpoint, moto) = match std::env::var("AWS_ENDPOINT_URL") {
            Ok(url) => (url, None),
            Err(_) => {
                let server = MotoServer::shared();
                (server.endpoint().to_owned(), Some(server))
            }
        };
        let clients = AwsClients::new(&super::moto::sdk_config(&aws_endpoint).await, &[]);
        let net = super::network(&clients).await;
        super::tag_subnets_for_internal_elb(&clients, &net).await;
        let cert_dir = tempfile::tempdir().expect("a temporary directory");
        let ca = webhook_certificate(cert_dir.path(), webhook_host());
        let setup = Setup::new(&cluster, &net.vpc_id, &aws_endpoint, cert_dir.path());
        install_crds(&client).await;
        create_namespace(&client, &setup.namespace).await;
        eprintln!(
            "e2e {}: controller logs under {}",
            setup.id,
            setup.log_dir.display()
        );
        World {
            cluster,
            client,
            clients,
            net,
            setup,
            ca,
            _cert_dir: cert_dir,
            _moto: moto,
        }
    }

    /// Runs `scenario`, then removes what it made in the cluster whatever happened.
    pub async fn run<F: std::future::Future<Output = ()>>(&self, scenario: F) {
        use futures::FutureExt as _;
        let outcome = std::panic::AssertUnwindSafe(scenario).catch_unwind().await;
        cleanup(&self.client, &self.setup).await;
        if let Err(panic) = outcome {
            eprintln!(
                "e2e {} failed; controller logs: {}",
                self.setup.id,
                self.setup.log_dir.display()
            );
            std::panic::resume_unwind(panic);
        }
    }
}

/// A self-signed certificate for `hosts`, imported into the emulator's ACM; its ARN.
pub async fn import_certificate(clients: &AwsClients, hosts: &[&str]) -> String {
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert =
        rcgen::CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
            .expect("certificate parameters")
            .self_signed(&key)
            .expect("a self-signed certificate");
    clients
        .acm
        .import_certificate()
        .certificate(aws_sdk_acm::primitives::Blob::new(cert.pem()))
        .private_key(aws_sdk_acm::primitives::Blob::new(key.serialize_pem()))
        .send()
        .await
        .expect("import the certificate into ACM")
        .certificate_arn()
        .expect("the certificate's ARN")
        .to_owned()
}

/// A security group in `vpc_id` named `name` by its `Name` tag; its ID.
pub async fn named_security_group(clients: &AwsClients, vpc_id: &str, name: &str) -> String {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    clients
        .ec2
        .create_security_group()
        .group_name(name)
        .description("a group named by its Name tag")
        .vpc_id(vpc_id)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(Tag::builder().key("Name").value(name).build())
                .build(),
        )
        .send()
        .await
        .expect("create a security group")
        .group_id()
        .expect("the group's ID")
        .to_owned()
}

/// Server-side applies the EndpointSlice `name` of Service `service` with ready `ips`.
pub async fn apply_endpoint_slice(
    client: &Client,
    namespace: &str,
    name: &str,
    service: &str,
    ips: &[String],
) {
    Api::<k8s_openapi::api::discovery::v1::EndpointSlice>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&endpoint_slice(name, service, ips)),
        )
        .await
        .expect("apply the EndpointSlice");
}

/// `(port, protocol)` of every listener of the load balancer.
pub async fn listeners(clients: &AwsClients, lb_arn: &str) -> BTreeSet<(i32, String)> {
    clients
        .elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .expect("describe listeners")
        .listeners()
        .iter()
        .map(|l| {
            (
                l.port().unwrap_or_default(),
                l.protocol()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}
