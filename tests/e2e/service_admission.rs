//! The Service webhooks on a real API server, registered with the chart's own `mservice` and
//! `vservice` entries (rendered by the Helm SDK, with UPDATE added to the mutator's operations as
//! `serviceMutatorWebhookConfig.operations` allows), pointed at the controller binary and scoped
//! to the test's namespace:
//!
//! * a `type: LoadBalancer` Service without a class is stored with `service.k8s.aws/nlb`, and a
//!   `kubectl replace` that drops the class keeps it;
//! * a bad `service.beta.kubernetes.io/aws-load-balancer-*` value is refused at creation, the
//!   message naming the Service and every bad key;
//! * a ClusterIP Service with odd `aws-load-balancer-*` annotations is stored untouched;
//! * with the webhook down (failurePolicy Fail), Services the chart's CEL `matchConditions` leave
//!   out (no LoadBalancer type, no class, no NLB annotation) are still created; the others are
//!   refused, so nothing is silently left to another controller.
//!
//! The binary runs webhook-only (no `--cluster-name`), with the default `--load-balancer-class`:
//! admission is the same code either way, and no reconciler turns the test's Services into NLBs
//! (the webhooks only see the test's namespace).

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::World;
use crate::support::e2e::{ControllerProcess, Launch, MANAGER, Setup, eventually, webhook_host};
use crate::support::process::http_get;

const CLASS: &str = "service.k8s.aws/nlb";
const INTERVAL: &str = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval";
const SCHEME: &str = "service.beta.kubernetes.io/aws-load-balancer-scheme";

#[tokio::test]
async fn service_webhooks_claim_validate_and_never_block_other_services() {
    let world = World::new().await;
    world.run(scenario(&world)).await;
}

/// The chart's webhook entries by name, rendered with the Helm SDK (`make venv` installs it).
fn chart_webhooks() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = r#"
import json, sys
import helm_python as helm
import yaml
values = {"clusterName": "e2e", "serviceMutatorWebhookConfig": {"operations": ["CREATE", "UPDATE"]}}
with helm.Chart.load(sys.argv[1]) as chart:
    manifests = chart.render(values, name="aws-load-balancer-controller", namespace="kube-system")
hooks = {}
for path, text in manifests.items():
    if path.endswith(".yaml"):
        for doc in yaml.safe_load_all(text):
            if doc and doc.get("kind", "").endswith("WebhookConfiguration"):
                for hook in doc["webhooks"]:
                    hooks[hook["name"]] = hook
print(json.dumps(hooks))
"#;
    let out = Command::new(root.join(".venv/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(root.join("charts/aws-load-balancer-controller"))
        .output()
        .expect("run the Helm SDK (make venv installs it)");
    assert!(
        out.status.success(),
        "rendering the chart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the rendered webhooks as JSON")
}

/// The chart's entry `name`, calling this test's webhook server, for the test's namespace only.
fn pointed_here(hooks: &Value, name: &str, setup: &Setup, ca_pem: &str) -> Value {
    use base64::Engine as _;
    let mut hook = hooks[name].clone();
    assert!(hook.is_object(), "the chart renders {name}: {hooks}");
    let path = hook["clientConfig"]["service"]["path"]
        .as_str()
        .expect("a path")
        .to_owned();
    let host = match webhook_host() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    hook["clientConfig"] = json!({
        "url": format!("https://{host}:{}{path}", setup.webhook_port),
        "caBundle": base64::engine::general_purpose::STANDARD.encode(ca_pem),
    });
    hook["namespaceSelector"] =
        json!({"matchLabels": {"kubernetes.io/metadata.name": setup.namespace}});
    hook
}

/// Registers the chart's Service webhooks under the name the suite's cleanup deletes.
async fn register(world: &World) {
    let setup = &world.setup;
    let hooks = chart_webhooks();
    let name = format!("lbc-e2e-{}", setup.id);
    let mutating: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [pointed_here(&hooks, "mservice.elbv2.k8s.aws", setup, &world.ca.pem)]
    }))
    .expect("mutating configuration");
    let validating: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [pointed_here(&hooks, "vservice.elbv2.k8s.aws", setup, &world.ca.pem)]
    }))
    .expect("validating configuration");
    // The API server compiles the CEL conditions here: a malformed one is refused.
    Api::<MutatingWebhookConfiguration>::all(world.client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&mutating),
        )
        .await
        .expect("register the chart's mservice entry");
    Api::<ValidatingWebhookConfiguration>::all(world.client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&validating),
        )
        .await
        .expect("register the chart's vservice entry");
}

fn service(name: &str, spec: Value, annotations: Value) -> Service {
    let mut spec = spec;
    spec["ports"] = json!([{"name": "http", "port": 80, "targetPort": 8080}]);
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec
    }))
    .expect("a Service")
}

fn class_of(service: &Service) -> Option<&str> {
    service.spec.as_ref()?.load_balancer_class.as_deref()
}

/// `awslbc_webhook_requests_total` of one webhook and decision, from the binary's metrics.
fn requests(metrics_port: u16, webhook: &str, decision: &str) -> f64 {
    let (_, text) = http_get(metrics_port, "/metrics").expect("the metrics endpoint");
    let labels = [
        format!("webhook=\"{webhook}\""),
        format!("decision=\"{decision}\""),
    ];
    text.lines()
        .filter(|l| l.starts_with("awslbc_webhook_requests_total{"))
        .filter(|l| labels.iter().all(|label| l.contains(label.as_str())))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scenario(world: &World) {
    let setup = &world.setup;
    let ns = setup.namespace.as_str();
    // Webhook-only, with the default `--load-balancer-class`.
    let args: Vec<String> = setup
        .serve_args()
        .into_iter()
        .filter(|a| !a.starts_with("--cluster-name=") && !a.starts_with("--load-balancer-class="))
        .collect();
    let mut controller = ControllerProcess::launch(
        setup,
        Launch {
            identity: "service-admission",
            args,
            kubeconfig: &setup.kubeconfig,
            access_key: "testing",
            env: vec![("POD_NAMESPACE".to_owned(), ns.to_owned())],
            webhook_port: setup.webhook_port,
        },
    );
    controller.wait_ready().await;
    register(world).await;
    let services: Api<Service> = Api::namespaced(world.client.clone(), ns);

    // Both configurations are live once a dry run is claimed and a bad dry run refused.
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    eventually("the Service webhooks to answer", || async {
        let claimed = services
            .create(
                &dry_run,
                &service("probe", json!({"type": "LoadBalancer"}), json!({})),
            )
            .await
            .ok()?;
        let refused = services
            .create(
                &dry_run,
                &service(
                    "probe",
                    json!({"type": "LoadBalancer"}),
                    json!({INTERVAL: "abc"}),
                ),
            )
            .await
            .is_err();
        (class_of(&claimed) == Some(CLASS) && refused).then_some(())
    })
    .await;

    // A class-less LoadBalancer Service is claimed.
    let created = services
        .create(
            &PostParams::default(),
            &service(
                "web",
                json!({"type": "LoadBalancer"}),
                json!({INTERVAL: "10"}),
            ),
        )
        .await
        .expect("a good LoadBalancer Service is admitted");
    assert_eq!(class_of(&created), Some(CLASS));
    assert_eq!(
        class_of(&services.get("web").await.unwrap()),
        Some(CLASS),
        "the class is stored"
    );

    // `kubectl replace` without the class: the API server alone would refuse ("may not change
    // once set"); the mutator puts the stored class back.
    let mut replacement = services.get("web").await.unwrap();
    if let Some(spec) = replacement.spec.as_mut() {
        spec.load_balancer_class = None;
    }
    let replaced = services
        .replace("web", &PostParams::default(), &replacement)
        .await
        .expect("a replace that drops the class is admitted");
    assert_eq!(class_of(&replaced), Some(CLASS));
    assert!(
        requests(controller.metrics_port, "mservice.elbv2.k8s.aws", "patched") >= 2.0,
        "the mutator patched the creation and the replace"
    );

    // Bad values are refused at creation, naming the Service and each bad key.
    let refused = services
        .create(
            &PostParams::default(),
            &service(
                "bad",
                json!({"type": "LoadBalancer"}),
                json!({INTERVAL: "abc", SCHEME: "public"}),
            ),
        )
        .await
        .expect_err("bad annotations must be refused");
    let message = refused.to_string();
    eprintln!("e2e service admission: refused as expected: {message}");
    for expected in [
        "admission webhook \"vservice.elbv2.k8s.aws\" denied the request",
        &format!("Service {ns}/bad: "),
        &format!("{INTERVAL}: cannot parse \"abc\" as an int32"),
        SCHEME,
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    assert!(services.get_opt("bad").await.unwrap().is_none());

    // A ClusterIP Service with odd annotations is not ours: stored untouched.
    let allowed_before = requests(controller.metrics_port, "vservice.elbv2.k8s.aws", "allowed");
    let odd = json!({INTERVAL: "abc", SCHEME: "public",
                     "service.beta.kubernetes.io/aws-load-balancer-no-such-key": "x"});
    let plain = services
        .create(
            &PostParams::default(),
            &service("plain", json!({"type": "ClusterIP"}), odd.clone()),
        )
        .await
        .expect("a ClusterIP Service is never refused for its annotations");
    let stored = services.get("plain").await.unwrap();
    assert_eq!(
        serde_json::to_value(&stored.metadata.annotations).unwrap(),
        odd
    );
    assert_eq!(class_of(&stored), None);
    assert_eq!(
        stored.spec.as_ref().and_then(|s| s.type_.as_deref()),
        Some("ClusterIP")
    );
    assert_eq!(plain.metadata.annotations, stored.metadata.annotations);
    assert!(
        requests(controller.metrics_port, "vservice.elbv2.k8s.aws", "allowed") > allowed_before,
        "the validator was asked about the annotated ClusterIP Service and allowed it"
    );

    // With no replica answering, what the CEL conditions leave out is still created...
    controller.stop();
    for (name, spec) in [
        ("down-clusterip", json!({"type": "ClusterIP"})),
        ("down-nodeport", json!({"type": "NodePort"})),
    ] {
        services
            .create(&PostParams::default(), &service(name, spec, json!({})))
            .await
            .unwrap_or_else(|e| panic!("{name} must not depend on the webhook: {e}"));
    }
    // ...and what could be ours is refused (failurePolicy Fail), not left to another controller.
    for (name, spec, annotations, webhook) in [
        (
            "down-lb",
            json!({"type": "LoadBalancer"}),
            json!({}),
            "mservice.elbv2.k8s.aws",
        ),
        (
            "down-annotated",
            json!({"type": "ClusterIP"}),
            json!({INTERVAL: "10"}),
            "vservice.elbv2.k8s.aws",
        ),
    ] {
        let error = services
            .create(&PostParams::default(), &service(name, spec, annotations))
            .await
            .expect_err("a Service that could be ours waits for the webhook");
        assert!(
            error
                .to_string()
                .contains(&format!("failed calling webhook \"{webhook}\"")),
            "{name}: {error}"
        );
    }
}
