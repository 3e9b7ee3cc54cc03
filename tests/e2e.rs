//! End to end against the cluster in `KUBECONFIG` and an AWS emulator (`AWS_ENDPOINT_URL`, or
//! a moto server the harness starts on 127.0.0.1), without the Helm chart: the real
//! `aws-load-balancer-controller serve` binary runs as a child process of this test, with a
//! webhook certificate; the test registers the Ingress and TargetGroupBinding admission webhooks
//! (scoped to the test's namespace) and then checks, through the API server:
//!
//! * a bad annotation is refused at `kubectl apply` time, and the defaults are written in;
//! * an Ingress becomes an ALB in AWS, its hostname lands in the status, a TargetGroupBinding
//!   is created for its Service;
//! * a path change reaches the listener rule;
//! * the controller restarted mid-way (SIGTERM, then a new process) duplicates nothing;
//! * deleting the Ingress deletes every AWS resource of its stack, then the finalizer goes.
//!
//! The webhook listens on 127.0.0.1, so the API server must reach this machine's loopback
//! (a cluster on this host: k3s, kubeadm, minikube `--driver=none`). For a cluster elsewhere,
//! `E2E_WEBHOOK_HOST` is the address the API server should call and `E2E_WEBHOOK_BIND` the
//! local address to listen on (both default to 127.0.0.1).
//!
//! `#[ignore]`d: run with `make e2e` (or `cargo test --test e2e -- --ignored`).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_load_balancer_controller::deploy::AwsClients;
use base64::Engine as _;
use futures::FutureExt as _;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde::Deserialize as _;
use serde_json::json;
use support::process::{free_port, http_get, terminate, webhook_certificate};
use webhook::crd::{IngressClassParams, TargetGroupBinding};

const MANAGER: &str = "lbc-e2e";
const TIMEOUT: Duration = Duration::from_secs(180);
const STACK_TAG: &str = "ingress.k8s.aws/stack";

async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
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
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:06x}", (nanos ^ std::process::id()) & 0xff_ffff)
}

fn env_ip(name: &str) -> IpAddr {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")))
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).unwrap();
            if value.is_null() {
                continue;
            }
            let crd: CustomResourceDefinition = serde_yaml::from_value(value).unwrap();
            let name = crd.metadata.name.clone().unwrap();
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|e| panic!("install CRD {name}: {e}"));
            eventually(&format!("CRD {name} established"), || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await.ok()?;
                    crd.status?
                        .conditions?
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        .then_some(())
                }
            })
            .await;
        }
    }
}

/// The emulator: `AWS_ENDPOINT_URL` when set, else the harness's moto. Both the controller
/// and the test use the emulator's default account.
fn aws_endpoint() -> (String, Option<std::sync::Arc<support::moto::MotoServer>>) {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = support::moto::MotoServer::shared();
            (server.endpoint().to_owned(), Some(server))
        }
    }
}

/// ARNs of the load balancers and target groups tagged with our stack.
async fn owned_elbv2(clients: &AwsClients, stack: &str) -> (Vec<String>, Vec<String>) {
    let lbs: Vec<String> = clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .iter()
        .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
        .collect();
    let tgs: Vec<String> = clients
        .elbv2
        .describe_target_groups()
        .send()
        .await
        .unwrap()
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
                .unwrap();
            for desc in tags.tag_descriptions() {
                if desc
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(STACK_TAG) && t.value() == Some(stack))
                {
                    out.extend(desc.resource_arn().map(str::to_owned));
                }
            }
        }
    }
    mine
}

/// IDs of the security groups tagged with our stack.
async fn owned_security_groups(clients: &AwsClients, stack: &str) -> Vec<String> {
    support::security_groups_tagged(clients, &[(STACK_TAG, stack)]).await
}

async fn rule_paths(clients: &AwsClients, lb_arn: &str) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let listeners = clients
        .elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    for listener in listeners.listeners() {
        let rules = clients
            .elbv2
            .describe_rules()
            .listener_arn(listener.listener_arn().unwrap_or_default())
            .send()
            .await
            .unwrap();
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
struct Setup {
    id: String,
    namespace: String,
    class: String,
    cluster: String,
    vpc_id: String,
    aws_endpoint: String,
    cert_dir: PathBuf,
    webhook_bind: IpAddr,
    webhook_port: u16,
    log_dir: PathBuf,
}

/// The controller binary running as a child of this test; stopped with SIGTERM (then killed)
/// when dropped. Only the process started here is ever signalled, by its PID.
struct ControllerProcess {
    child: Child,
    probe_port: u16,
    log: PathBuf,
}

impl ControllerProcess {
    fn start(setup: &Setup, identity: &str) -> ControllerProcess {
        let probe_port = free_port(IpAddr::from([127, 0, 0, 1]));
        let metrics_port = free_port(IpAddr::from([127, 0, 0, 1]));
        let log = setup.log_dir.join(format!("controller-{identity}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_aws-load-balancer-controller"))
            .arg("serve")
            .args(["--cluster-name", &setup.cluster])
            .args(["--ingress-class", &setup.class])
            .args(["--aws-vpc-id", &setup.vpc_id])
            .args(["--aws-region", support::moto::REGION])
            .args(["--webhook-cert-dir", &setup.cert_dir.display().to_string()])
            .args(["--webhook-bind-addr", &setup.webhook_bind.to_string()])
            .args(["--webhook-bind-port", &setup.webhook_port.to_string()])
            .args(["--metrics-bind-addr", &format!("127.0.0.1:{metrics_port}")])
            .args([
                "--health-probe-bind-addr",
                &format!("127.0.0.1:{probe_port}"),
            ])
            .args(["--leader-election-namespace", &setup.namespace])
            .args(["--leader-election-id", &format!("lbc-e2e-{}", setup.id)])
            .args(["--default-target-type", "instance"])
            .args(["--sync-period", "60s"])
            .env("AWS_ENDPOINT_URL", &setup.aws_endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("POD_NAME", identity)
            .env("POD_NAMESPACE", &setup.namespace)
            .env("RUST_LOG", "info,aws_load_balancer_controller=debug")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start the controller binary");
        ControllerProcess {
            child,
            probe_port,
            log,
        }
    }

    /// Waits for `/readyz` (caches synced, webhook bound).
    async fn wait_ready(&mut self) {
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
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// SIGTERM, so it releases its lease and stops its workers; killed if still running after
    /// 20 s.
    fn stop(&mut self) {
        if terminate(&mut self.child, Duration::from_secs(20)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Ingress and TargetGroupBinding webhooks (validating and mutating), only for the test's
/// namespace.
async fn register_webhooks(client: &Client, setup: &Setup, ca_pem: &str, host: IpAddr) {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let base = format!("https://{}:{}", url_host(host), setup.webhook_port);
    let scope = json!({"matchLabels": {"kubernetes.io/metadata.name": setup.namespace}});
    let rules = json!([{"apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"], "resources": ["ingresses"]}]);
    // The controller's own TargetGroupBindings go through these too.
    let binding_rules = json!([{"apiGroups": ["elbv2.k8s.aws"], "apiVersions": ["v1beta1"],
                                "operations": ["CREATE", "UPDATE"], "resources": ["targetgroupbindings"]}]);
    let name = format!("lbc-e2e-{}", setup.id);
    let validating: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{"name": "vingress.elbv2.k8s.aws",
                      "clientConfig": {"url": format!("{base}/validate-networking-v1-ingress"), "caBundle": ca},
                      "rules": rules, "namespaceSelector": scope, "failurePolicy": "Fail",
                      "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 10},
                     {"name": "vtargetgroupbinding.elbv2.k8s.aws",
                      "clientConfig": {"url": format!("{base}/validate-elbv2-k8s-aws-v1beta1-targetgroupbinding"), "caBundle": ca},
                      "rules": binding_rules, "namespaceSelector": scope, "failurePolicy": "Fail",
                      "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 10}]
    }))
    .unwrap();
    let mutating: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{"name": "mingress.elbv2.k8s.aws",
                      "clientConfig": {"url": format!("{base}/mutate-networking-v1-ingress"), "caBundle": ca},
                      "rules": rules, "namespaceSelector": scope, "failurePolicy": "Fail",
                      "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 10},
                     {"name": "mtargetgroupbinding.elbv2.k8s.aws",
                      "clientConfig": {"url": format!("{base}/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding"), "caBundle": ca},
                      "rules": binding_rules, "namespaceSelector": scope, "failurePolicy": "Fail",
                      "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 10}]
    }))
    .unwrap();
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&validating),
        )
        .await
        .unwrap();
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&mutating),
        )
        .await
        .unwrap();
}

fn url_host(host: IpAddr) -> String {
    match host {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn ingress(class: &str, path: &str, annotations: serde_json::Value) -> Ingress {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "annotations": annotations},
        "spec": {"ingressClassName": class, "rules": [{"http": {"paths": [{
            "path": path, "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    }))
    .unwrap()
}

#[tokio::test]
#[ignore = "needs a cluster in KUBECONFIG and an AWS emulator (make e2e)"]
async fn ingress_lifecycle_against_a_cluster_and_an_aws_emulator() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "set KUBECONFIG to a disposable cluster to run the e2e suite"
    );
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = Client::try_default().await.unwrap();
    let id = suffix();
    let (aws_endpoint, _moto) = aws_endpoint();
    let clients = AwsClients::new(&support::moto::sdk_config(&aws_endpoint).await, &[]);
    let net = support::network(&clients).await;
    support::tag_subnets_for_internal_elb(&clients, &net).await;
    let cert_dir = tempfile::tempdir().unwrap();
    let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{id}"));
    std::fs::create_dir_all(&log_dir).unwrap();
    let webhook_bind = env_ip("E2E_WEBHOOK_BIND");
    let setup = Setup {
        namespace: format!("lbc-e2e-{id}"),
        class: format!("alb-e2e-{id}"),
        cluster: format!("e2e-{id}"),
        vpc_id: net.vpc_id.clone(),
        aws_endpoint,
        cert_dir: cert_dir.path().to_owned(),
        webhook_bind,
        webhook_port: free_port(webhook_bind),
        log_dir,
        id,
    };
    eprintln!("e2e: controller logs under {}", setup.log_dir.display());

    let outcome = std::panic::AssertUnwindSafe(scenario(&client, &clients, &setup))
        .catch_unwind()
        .await;
    cleanup(&client, &setup).await;
    if let Err(panic) = outcome {
        eprintln!("e2e failed; controller logs: {}", setup.log_dir.display());
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(client: &Client, clients: &AwsClients, setup: &Setup) {
    let ns = setup.namespace.as_str();
    let class = setup.class.as_str();
    let stack = format!("{ns}/web");

    // Namespace and CRDs, then the controller; once it is ready, its webhooks.
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    install_crds(client).await;
    let webhook_host = env_ip("E2E_WEBHOOK_HOST");
    let ca = webhook_certificate(&setup.cert_dir, webhook_host);
    let mut controller = ControllerProcess::start(setup, "e2e-first");
    controller.wait_ready().await;
    register_webhooks(client, setup, &ca.pem, webhook_host).await;

    // IngressClassParams (ip targets) + IngressClass, a Service.
    let params: Api<IngressClassParams> = Api::all(client.clone());
    let icp: IngressClassParams = serde_json::from_value(json!({
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "IngressClassParams",
        "metadata": {"name": class}, "spec": {"scheme": "internal", "targetType": "ip"}
    }))
    .unwrap();
    params
        .patch(class, &PatchParams::apply(MANAGER), &Patch::Apply(&icp))
        .await
        .unwrap();
    let ic: IngressClass = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": class},
        "spec": {"controller": "ingress.k8s.aws/alb",
                 "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": class}}
    }))
    .unwrap();
    Api::<IngressClass>::all(client.clone())
        .patch(class, &PatchParams::apply(MANAGER), &Patch::Apply(&ic))
        .await
        .unwrap();
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();

    // Admission through the API server: a bad annotation is refused with its name...
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    let refusal = eventually("the webhook to answer (it refuses a bad scheme)", || {
        let ingresses = ingresses.clone();
        let bad = ingress(
            class,
            "/v1",
            json!({"alb.ingress.kubernetes.io/scheme": "sideways"}),
        );
        async move {
            match ingresses.create(&PostParams::default(), &bad).await {
                Err(kube::Error::Api(status))
                    if status.message.contains("alb.ingress.kubernetes.io/scheme") =>
                {
                    Some(status.message)
                }
                Err(other) => {
                    eprintln!("e2e: waiting for the webhook: {other}");
                    None
                }
                Ok(_) => panic!("an Ingress with scheme `sideways` was admitted"),
            }
        }
    })
    .await;
    eprintln!("e2e: refused as expected: {refusal}");
    // ...and a good one gets the defaults written in.
    ingresses
        .patch(
            "web",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&ingress(class, "/v1", json!({}))),
        )
        .await
        .unwrap();
    let stored = ingresses.get("web").await.unwrap();
    let annotations = stored.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("alb.ingress.kubernetes.io/target-type")
            .map(String::as_str),
        Some("ip"),
        "target-type defaulted from the IngressClassParams: {annotations:?}"
    );
    assert_eq!(
        annotations
            .get("alb.ingress.kubernetes.io/listen-ports")
            .map(String::as_str),
        Some(r#"[{"HTTP":80}]"#),
        "{annotations:?}"
    );

    // The ALB, the hostname, the finalizer, the TargetGroupBinding.
    let lb = eventually("the ALB in AWS", || async {
        owned_elbv2(clients, &stack).await.0.first().cloned()
    })
    .await;
    let hostname = eventually("the hostname in the Ingress status", || {
        let ingresses = ingresses.clone();
        async move {
            let ing = ingresses.get("web").await.ok()?;
            ing.status?
                .load_balancer?
                .ingress?
                .first()?
                .hostname
                .clone()
        }
    })
    .await;
    assert!(hostname.contains("elb"), "{hostname}");
    let finalizers = ingresses
        .get("web")
        .await
        .unwrap()
        .metadata
        .finalizers
        .unwrap_or_default();
    assert!(
        finalizers.contains(&"ingress.k8s.aws/resources".to_owned()),
        "{finalizers:?}"
    );
    let bindings: Api<TargetGroupBinding> = Api::namespaced(client.clone(), ns);
    let (_, tgs) = owned_elbv2(clients, &stack).await;
    let binding = eventually("the TargetGroupBinding of the Service", || {
        let bindings = bindings.clone();
        async move {
            let list = bindings.list(&ListParams::default()).await.ok()?;
            list.items.into_iter().next()
        }
    })
    .await;
    assert_eq!(binding.spec.service_ref.name, "web");
    assert_eq!(tgs.len(), 1, "{tgs:?}");
    assert_eq!(binding.spec.arn(), tgs.first().map(String::as_str));

    // A path change reaches the rule.
    ingresses
        .patch(
            "web",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&ingress(class, "/v2", json!({}))),
        )
        .await
        .unwrap();
    eventually("the rule to match /v2", || {
        let lb = lb.clone();
        async move {
            let paths = rule_paths(clients, &lb).await;
            (paths.iter().any(|p| p.starts_with("/v2"))
                && !paths.iter().any(|p| p.starts_with("/v1")))
            .then_some(())
        }
    })
    .await;

    // Restart: a new process (a new identity, taking over the released lease) adopts what is
    // there and creates nothing twice.
    controller.stop();
    let mut controller = ControllerProcess::start(setup, "e2e-second");
    controller.wait_ready().await;
    let settled = Instant::now();
    while settled.elapsed() < Duration::from_secs(15) {
        let (lbs, tgs) = owned_elbv2(clients, &stack).await;
        let sgs = owned_security_groups(clients, &stack).await;
        assert_eq!(lbs.len(), 1, "one ALB after a restart: {lbs:?}");
        assert_eq!(tgs.len(), 1, "one target group after a restart: {tgs:?}");
        assert!(sgs.len() <= 1, "one managed security group: {sgs:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let paths = rule_paths(clients, &lb).await;
    assert!(
        paths.iter().any(|p| p.starts_with("/v2")),
        "the rule survived the restart: {paths:?}"
    );

    // Delete: every AWS resource of the stack goes, then the finalizer, then the binding.
    ingresses
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the Ingress to be gone", || {
        let ingresses = ingresses.clone();
        async move { ingresses.get_opt("web").await.ok()?.is_none().then_some(()) }
    })
    .await;
    let (lbs, tgs) = owned_elbv2(clients, &stack).await;
    let sgs = owned_security_groups(clients, &stack).await;
    assert!(
        lbs.is_empty() && tgs.is_empty() && sgs.is_empty(),
        "left behind: {lbs:?} {tgs:?} {sgs:?}"
    );
    eventually("the TargetGroupBinding to be gone", || {
        let bindings = bindings.clone();
        async move {
            let list = bindings.list(&ListParams::default()).await.ok()?;
            list.items.is_empty().then_some(())
        }
    })
    .await;
    controller.stop();
}

/// Removes what the scenario made in the cluster, whatever happened to it.
async fn cleanup(client: &Client, setup: &Setup) {
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
