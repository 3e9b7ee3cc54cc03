//! Router-level admission tests: AdmissionReview JSON in through the axum router, decisions out.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use contract::cluster::StaticCluster;
use contract::crd::IngressClassParams;
use k8s_openapi::api::networking::v1::IngressClass;
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use webhook::admission::{Admission, WebhookConfig};
use webhook::metrics::WebhookMetrics;

const PREFIX: &str = "alb.ingress.kubernetes.io/";
const VALIDATE: &str = "/validate-networking-v1-ingress";
/// Upstream has no Ingress mutator, and neither do we: defaults are derived at every build,
/// never frozen into the object.
const RETIRED_MUTATE: &str = "/mutate-networking-v1-ingress";

fn cluster() -> StaticCluster {
    let classes: Vec<IngressClass> = serde_yaml::from_str(
        r#"
- metadata: {name: alb}
  spec: {controller: ingress.k8s.aws/alb}
- metadata: {name: alb-restricted}
  spec:
    controller: ingress.k8s.aws/alb
    parameters: {apiGroup: elbv2.k8s.aws, kind: IngressClassParams, name: restricted}
- metadata: {name: alb-internal}
  spec:
    controller: ingress.k8s.aws/alb
    parameters: {apiGroup: elbv2.k8s.aws, kind: IngressClassParams, name: internal}
- metadata: {name: nginx}
  spec: {controller: k8s.io/ingress-nginx}
"#,
    )
    .unwrap();
    let params: Vec<IngressClassParams> = serde_yaml::from_str(
        r#"
- apiVersion: elbv2.k8s.aws/v1beta1
  kind: IngressClassParams
  metadata: {name: restricted}
  spec:
    namespaceSelector:
      matchLabels: {team: shop}
- apiVersion: elbv2.k8s.aws/v1beta1
  kind: IngressClassParams
  metadata: {name: internal}
  spec:
    scheme: internal
    targetType: ip
    tags: [{key: owner, value: platform}]
"#,
    )
    .unwrap();
    let mut namespaces = BTreeMap::new();
    namespaces.insert(
        "shop".to_string(),
        BTreeMap::from([
            ("team".to_string(), "shop".to_string()),
            (
                "kubernetes.io/metadata.name".to_string(),
                "shop".to_string(),
            ),
        ]),
    );
    namespaces.insert(
        "sandbox".to_string(),
        BTreeMap::from([(
            "kubernetes.io/metadata.name".to_string(),
            "sandbox".to_string(),
        )]),
    );
    StaticCluster {
        ingress_classes: classes.into_iter().map(Arc::new).collect(),
        ingress_class_params: params.into_iter().map(Arc::new).collect(),
        namespaces,
        ..StaticCluster::default()
    }
}

fn router() -> Router {
    let cluster = Arc::new(cluster());
    let admission = Admission {
        cluster: cluster.clone(),
        target_groups: cluster,
        config: Arc::new(WebhookConfig::default()),
        group_check: None,
    };
    let mut registry = prometheus_client::registry::Registry::default();
    webhook::server::router(admission, Arc::new(WebhookMetrics::register(&mut registry)))
}

async fn post(router: &Router, path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

/// The `response` of a 200 AdmissionReview answer.
async fn review(router: &Router, path: &str, review: &Value) -> Value {
    let (status, body) = post(router, path, serde_json::to_vec(review).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let out: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(out["kind"], "AdmissionReview");
    assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(
        out["response"]["uid"], review["request"]["uid"],
        "the request uid must be echoed"
    );
    out["response"].clone()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The JSON patch of a response, decoded.
fn patch_of(response: &Value) -> Option<Vec<Value>> {
    let encoded = response["patch"].as_str()?;
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    Some(serde_json::from_slice(&bytes).unwrap())
}

/// Apply a response's patch to the request object, as the API server would.
fn patched(object: &Value, response: &Value) -> Value {
    let mut object = object.clone();
    if let Some(ops) = patch_of(response) {
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
        json_patch::patch(&mut object, &patch).unwrap();
    }
    object
}

#[tokio::test]
async fn valid_ingress_is_allowed_without_warnings() {
    let router = router();
    let request = fixture("ingress-create-valid.json");
    let response = review(&router, VALIDATE, &request).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("warnings").is_none(), "{response}");
}

#[tokio::test]
async fn bad_scheme_is_denied_naming_object_and_key() {
    let router = router();
    let response = review(
        &router,
        VALIDATE,
        &fixture("ingress-create-bad-scheme.json"),
    )
    .await;
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    assert_eq!(
        response["status"]["message"],
        "Ingress shop/web: alb.ingress.kubernetes.io/scheme: unknown scheme \"public\", want internal or internet-facing"
    );
}

#[tokio::test]
async fn metadata_only_update_and_delete_are_allowed() {
    let router = router();
    for name in ["ingress-update-labels-only.json", "ingress-delete.json"] {
        let response = review(&router, VALIDATE, &fixture(name)).await;
        assert_eq!(response["allowed"], true, "{name}: {response}");
    }
}

#[tokio::test]
async fn other_controllers_ingress_is_left_alone() {
    let router = router();
    let request = fixture("ingress-other-class.json");
    let response = review(&router, VALIDATE, &request).await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("patch").is_none());
}

#[tokio::test]
async fn no_ingress_mutator_is_served() {
    let router = router();
    let body = fixture("ingress-create-no-annotations.json").to_string();
    let (status, _) = post(&router, RETIRED_MUTATE, body.into_bytes()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_object_is_denied_with_uid() {
    let router = router();
    let response = review(
        &router,
        VALIDATE,
        &fixture("ingress-create-malformed-object.json"),
    )
    .await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(message.contains("object is malformed"), "{message}");
}

#[tokio::test]
async fn wrong_kind_on_a_path_is_denied() {
    let router = router();
    let mut request = fixture("ingress-create-valid.json");
    request["request"]["kind"]["kind"] = json!("Pod");
    let response = review(&router, VALIDATE, &request).await;
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("handles Ingress, got Pod")
    );
}

#[tokio::test]
async fn bodies_that_are_not_reviews_get_400() {
    let router = router();
    for body in [
        b"not json".to_vec(),
        b"{}".to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"request": {"uid": ""}}"#.to_vec(),
        br#"{"request": {"uid": 7}}"#.to_vec(),
    ] {
        let (status, reason) = post(&router, VALIDATE, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert!(!reason.is_empty());
    }
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    /// `None` (key absent) means `alb`; an explicit null means no ingressClassName.
    #[serde(default = "default_class")]
    class: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    paths: Option<Vec<CasePath>>,
    deny: Option<String>,
    warn: Option<String>,
    /// The validating answer must carry no warnings at all.
    #[serde(default)]
    no_warnings: bool,
}

fn default_class() -> Option<String> {
    Some("alb".to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CasePath {
    path: String,
    path_type: String,
    service: String,
    port: Option<i32>,
    port_name: Option<String>,
}

fn full_key(key: &str) -> String {
    if key.contains('/') {
        key.to_string()
    } else {
        format!("{PREFIX}{key}")
    }
}

fn case_review(case: &Case) -> Value {
    let namespace = case.namespace.clone().unwrap_or_else(|| "shop".to_string());
    let annotations: BTreeMap<String, String> = case
        .annotations
        .iter()
        .map(|(k, v)| (full_key(k), v.clone()))
        .collect();
    let paths: Vec<Value> = match &case.paths {
        Some(paths) => paths
            .iter()
            .map(|p| {
                let port = match (&p.port_name, p.port) {
                    (Some(name), _) => json!({"name": name}),
                    (None, Some(number)) => json!({"number": number}),
                    (None, None) => json!({"number": 80}),
                };
                json!({"path": p.path, "pathType": p.path_type,
                       "backend": {"service": {"name": p.service, "port": port}}})
            })
            .collect(),
        None => vec![json!({"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": "web", "port": {"number": 80}}}})],
    };
    let mut spec = json!({"rules": [{"host": "shop.example.com", "http": {"paths": paths}}]});
    if let Some(class) = &case.class {
        spec["ingressClassName"] = json!(class);
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("case-{}", case.name),
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "name": case.name,
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "test"},
            "object": {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": case.name, "namespace": namespace, "annotations": annotations},
                "spec": spec
            }
        }
    })
}

#[tokio::test]
async fn annotation_case_table() {
    let router = router();
    let path = format!(
        "{}/tests/fixtures/ingress-cases.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let cases: Vec<Case> = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 40, "the table lost cases");
    let mut failures = Vec::new();
    for case in &cases {
        let request = case_review(case);
        let namespace = request["request"]["namespace"]
            .as_str()
            .unwrap()
            .to_string();
        let validated = review(&router, VALIDATE, &request).await;
        let allowed = validated["allowed"].as_bool().unwrap();
        let message = validated["status"]["message"].as_str().unwrap_or_default();
        match &case.deny {
            Some(expected) => {
                let prefix = format!("Ingress {namespace}/{}: ", case.name);
                if allowed || !message.starts_with(&prefix) || !message.contains(expected.as_str())
                {
                    failures.push(format!(
                        "{}: want denial containing {expected:?}, got {validated}",
                        case.name
                    ));
                }
            }
            None if !allowed => {
                failures.push(format!("{}: want allowed, got {validated}", case.name))
            }
            None => {}
        }
        if let Some(expected) = &case.warn {
            let warned = validated["warnings"].as_array().is_some_and(|ws| {
                ws.iter()
                    .any(|w| w.as_str().unwrap_or_default().contains(expected.as_str()))
            });
            if !warned {
                failures.push(format!(
                    "{}: want warning containing {expected:?}, got {validated}",
                    case.name
                ));
            }
        }
        if case.no_warnings && validated.get("warnings").is_some() {
            failures.push(format!("{}: want no warnings, got {validated}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn object_review(
    uid: &str,
    kind: &str,
    operation: &str,
    object: Value,
    old: Option<Value>,
) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "elbv2.k8s.aws", "version": "v1beta1", "kind": kind},
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "test"},
            "object": object,
            "oldObject": old,
        }
    })
}

#[tokio::test]
async fn ingress_class_params_cidrs_are_checked_with_upstream_messages() {
    let router = router();
    let params = json!({
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "IngressClassParams",
        "metadata": {"name": "edge"},
        "spec": {"inboundCIDRs": ["10.0.0.0/8", "10.1.2.3"]}
    });
    let path = "/validate-elbv2-k8s-aws-v1beta1-ingressclassparams";
    let response = review(
        &router,
        path,
        &object_review("icp-1", "IngressClassParams", "CREATE", params, None),
    )
    .await;
    assert_eq!(response["allowed"], false);
    assert_eq!(
        response["status"]["message"],
        r#"IngressClassParams edge: spec.inboundCIDRs[1]: Invalid value: "10.1.2.3": Could not be parsed as a CIDR (did you mean "10.1.2.3/32")"#
    );
}

const TG_ARN: &str =
    "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/0123456789abcdef";

fn router_with_target_group() -> Router {
    let mut cluster = cluster();
    cluster
        .target_groups
        .push(contract::cluster::TargetGroupInfo {
            arn: TG_ARN.to_string(),
            name: "web".to_string(),
            target_type: "ip".to_string(),
            ip_address_type: "ipv4".to_string(),
            vpc_id: "vpc-0123456789abcdef0".to_string(),
            protocol: "HTTP".to_string(),
        });
    let cluster = Arc::new(cluster);
    let admission = Admission {
        cluster: cluster.clone(),
        target_groups: cluster,
        config: Arc::new(WebhookConfig::default()),
        group_check: None,
    };
    webhook::server::router(admission, Arc::new(WebhookMetrics::default()))
}

#[tokio::test]
async fn target_group_binding_by_name_is_completed_from_aws_then_validated() {
    let router = router_with_target_group();
    let binding = json!({
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"targetGroupName": "web", "serviceRef": {"name": "web", "port": 80}}
    });
    let mutated = review(
        &router,
        "/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding",
        &object_review(
            "tgb-1",
            "TargetGroupBinding",
            "CREATE",
            binding.clone(),
            None,
        ),
    )
    .await;
    let completed = patched(&binding, &mutated);
    assert_eq!(completed["spec"]["targetGroupARN"], TG_ARN);
    assert_eq!(completed["spec"]["targetType"], "ip");
    assert_eq!(completed["spec"]["vpcID"], "vpc-0123456789abcdef0");
    assert_eq!(
        completed["spec"]["serviceRef"],
        binding["spec"]["serviceRef"]
    );

    let validated = review(
        &router,
        "/validate-elbv2-k8s-aws-v1beta1-targetgroupbinding",
        &object_review(
            "tgb-2",
            "TargetGroupBinding",
            "CREATE",
            completed.clone(),
            None,
        ),
    )
    .await;
    assert_eq!(validated["allowed"], true, "{validated}");

    // Changing the target type afterwards is refused.
    let mut changed = completed.clone();
    changed["spec"]["targetType"] = json!("instance");
    let refused = review(
        &router,
        "/validate-elbv2-k8s-aws-v1beta1-targetgroupbinding",
        &object_review(
            "tgb-3",
            "TargetGroupBinding",
            "UPDATE",
            changed,
            Some(completed),
        ),
    )
    .await;
    assert_eq!(refused["allowed"], false);
    let message = refused["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("TargetGroupBinding shop/web: "),
        "{message}"
    );
    assert!(message.contains("spec.targetType"), "{message}");
}

#[tokio::test]
async fn target_group_binding_without_a_target_group_is_refused() {
    let router = router_with_target_group();
    let binding = json!({
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"serviceRef": {"name": "web", "port": 80}}
    });
    let response = review(
        &router,
        "/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding",
        &object_review("tgb-4", "TargetGroupBinding", "CREATE", binding, None),
    )
    .await;
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("must provide either TargetGroupARN or TargetGroupName")
    );
}

#[tokio::test]
async fn new_pods_behind_an_ip_binding_get_its_readiness_gate() {
    let mut cluster = cluster();
    let binding: contract::crd::TargetGroupBinding = serde_json::from_value(json!({
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
        "metadata": {"name": "web-tgb", "namespace": "shop"},
        "spec": {"targetGroupARN": TG_ARN, "targetType": "ip",
                 "serviceRef": {"name": "web", "port": 80}}
    }))
    .unwrap();
    cluster.target_group_bindings.push(Arc::new(binding));
    cluster.service_selectors.insert(
        ("shop".to_string(), "web".to_string()),
        BTreeMap::from([("app".to_string(), "web".to_string())]),
    );
    let cluster = Arc::new(cluster);
    let router = webhook::server::router(
        Admission {
            cluster: cluster.clone(),
            target_groups: cluster,
            config: Arc::new(WebhookConfig::default()),
            group_check: None,
        },
        Arc::new(WebhookMetrics::default()),
    );
    let pod = |labels: Value| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"generateName": "web-", "labels": labels},
               "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
    };
    let request = |uid: &str, object: Value| {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
               "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                           "namespace": "shop", "operation": "CREATE", "object": object}})
    };
    let matching = pod(json!({"app": "web"}));
    let response = review(
        &router,
        "/mutate-v1-pod",
        &request("pod-1", matching.clone()),
    )
    .await;
    let gated = patched(&matching, &response);
    assert_eq!(
        gated["spec"]["readinessGates"],
        json!([{"conditionType": "target-health.elbv2.k8s.aws/web-tgb"}])
    );
    let other = pod(json!({"app": "db"}));
    let response = review(&router, "/mutate-v1-pod", &request("pod-2", other)).await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("patch").is_none(), "{response}");
}

fn service_review(uid: &str, operation: &str, object: Value, old: Option<Value>) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Service"},
            "resource": {"group": "", "version": "v1", "resource": "services"},
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "test"},
            "object": object,
            "oldObject": old,
        }
    })
}

fn a_service(spec: Value, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
           "spec": spec})
}

#[tokio::test]
async fn service_mutator_claims_new_load_balancers_and_restores_a_dropped_class() {
    let router = router();
    let path = "/mutate-v1-service";
    let lb = a_service(
        json!({"type": "LoadBalancer", "ports": [{"port": 80}]}),
        json!({}),
    );
    let response = review(
        &router,
        path,
        &service_review("svc-1", "CREATE", lb.clone(), None),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");
    let created = patched(&lb, &response);
    assert_eq!(created["spec"]["loadBalancerClass"], "service.k8s.aws/nlb");
    assert_eq!(created["spec"]["ports"], lb["spec"]["ports"]);

    // A class of its own, or another type: no patch.
    for spec in [
        json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/lb"}),
        json!({"type": "ClusterIP"}),
        json!({"type": "NodePort"}),
    ] {
        let object = a_service(spec, json!({}));
        let response = review(
            &router,
            path,
            &service_review("svc-2", "CREATE", object, None),
        )
        .await;
        assert_eq!(response["allowed"], true, "{response}");
        assert!(response.get("patch").is_none(), "{response}");
    }

    // `kubectl replace` without the class: the stored one comes back.
    let replaced = review(
        &router,
        path,
        &service_review("svc-3", "UPDATE", lb.clone(), Some(created.clone())),
    )
    .await;
    assert_eq!(
        patched(&lb, &replaced)["spec"]["loadBalancerClass"],
        "service.k8s.aws/nlb"
    );
    // Deletion is never touched.
    let deleted = review(
        &router,
        path,
        &service_review("svc-4", "DELETE", created.clone(), None),
    )
    .await;
    assert_eq!(deleted["allowed"], true);
    assert!(deleted.get("patch").is_none(), "{deleted}");
}

#[tokio::test]
async fn service_mutator_sets_the_configured_class() {
    let cluster = Arc::new(cluster());
    let router = webhook::server::router(
        Admission {
            cluster: cluster.clone(),
            target_groups: cluster,
            config: Arc::new(WebhookConfig {
                load_balancer_class: "example.com/nlb".to_string(),
                ..WebhookConfig::default()
            }),
            group_check: None,
        },
        Arc::new(WebhookMetrics::default()),
    );
    let lb = a_service(json!({"type": "LoadBalancer"}), json!({}));
    let response = review(
        &router,
        "/mutate-v1-service",
        &service_review("svc-5", "CREATE", lb.clone(), None),
    )
    .await;
    assert_eq!(
        patched(&lb, &response)["spec"]["loadBalancerClass"],
        "example.com/nlb"
    );
}

const HC_INTERVAL: &str = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval";

#[tokio::test]
async fn service_validator_refuses_bad_annotations_of_our_services_only() {
    let router = router();
    let path = "/validate-v1-service";
    let ours = json!({"type": "LoadBalancer", "loadBalancerClass": "service.k8s.aws/nlb"});

    let bad = a_service(ours.clone(), json!({HC_INTERVAL: "abc"}));
    let response = review(
        &router,
        path,
        &service_review("vsvc-1", "CREATE", bad, None),
    )
    .await;
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("Service shop/web: {HC_INTERVAL}: ")),
        "{message}"
    );
    assert!(message.contains("abc"), "{message}");

    // Not ours: allowed unread, even with the same annotation.
    for spec in [
        json!({"type": "ClusterIP"}),
        json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/lb"}),
    ] {
        let other = a_service(spec, json!({HC_INTERVAL: "abc"}));
        let response = review(
            &router,
            path,
            &service_review("vsvc-2", "CREATE", other, None),
        )
        .await;
        assert_eq!(response["allowed"], true, "{response}");
        assert!(response.get("warnings").is_none(), "{response}");
    }

    // An unknown key is a warning, with the key it probably meant.
    let typo = a_service(
        ours.clone(),
        json!({"service.beta.kubernetes.io/aws-load-balancer-healthcheck-intervall": "10"}),
    );
    let response = review(
        &router,
        path,
        &service_review("vsvc-3", "CREATE", typo, None),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        response["warnings"],
        json!([format!(
            "unknown annotation service.beta.kubernetes.io/aws-load-balancer-healthcheck-intervall \
             is ignored (did you mean {HC_INTERVAL}?)"
        )])
    );
}

#[tokio::test]
async fn service_mutator_then_validator_as_the_api_server_calls_them() {
    let router = router();
    // A class-less LoadBalancer Service: the mutator claims it, so the validator reads it.
    let lb = a_service(json!({"type": "LoadBalancer"}), json!({HC_INTERVAL: "abc"}));
    let mutated = review(
        &router,
        "/mutate-v1-service",
        &service_review("chain-1", "CREATE", lb.clone(), None),
    )
    .await;
    let claimed = patched(&lb, &mutated);
    let validated = review(
        &router,
        "/validate-v1-service",
        &service_review("chain-2", "CREATE", claimed, None),
    )
    .await;
    assert_eq!(validated["allowed"], false, "{validated}");
    // Without the mutator (enableServiceMutatorWebhook=false) it stays the in-tree controller's.
    let unclaimed = review(
        &router,
        "/validate-v1-service",
        &service_review("chain-3", "CREATE", lb, None),
    )
    .await;
    assert_eq!(unclaimed["allowed"], true, "{unclaimed}");
}
