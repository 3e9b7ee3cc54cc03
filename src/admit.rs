//! Admission of a set of manifests without an API server (`check`, `plan` and the embedded
//! demo): every IngressClassParams, TargetGroupBinding, Ingress and Service that could be ours
//! through the same webhook code the server runs, with the Ingress group check built from the
//! manifests themselves.

use std::sync::Arc;

use webhook::admission::Admission;
use webhook::local::{self, LocalVerdict};

use crate::cli::ControllerArgs;
use crate::manifests::Manifests;
use model::facts;

/// The webhook's verdict on every IngressClassParams, TargetGroupBinding and Ingress, and on
/// the Services the chart sends the Service webhooks (see [`could_be_ours`]).
pub async fn admit_all(
    manifests: &Manifests,
    controller: &ControllerArgs,
) -> Vec<(String, LocalVerdict)> {
    let cluster = Arc::new(manifests.static_cluster());
    // The group check builds each Ingress's group from the manifests, with the facts the
    // ClusterFacts documents give (none: live-fact errors are only warnings).
    let base = controller.model_facts(controller.aws_vpc_id.clone().unwrap_or_default());
    let facts = facts::overlay(&base, &manifests.cluster_facts).unwrap_or(base);
    let admission = Admission {
        cluster: cluster.clone(),
        target_groups: cluster,
        config: Arc::new(controller.webhook_config()),
        group_check: Some(Arc::new(model::group_check::ModelGroupCheck {
            objects: manifests.clone(),
            facts: Arc::new(std::sync::RwLock::new(facts)),
        })),
    };
    let mut objects = Vec::new();
    for params in &manifests.ingress_class_params {
        objects.push(serde_json::to_value(params));
    }
    for binding in &manifests.target_group_bindings {
        objects.push(serde_json::to_value(binding));
    }
    for ingress in &manifests.ingresses {
        objects.push(serde_json::to_value(ingress).map(|mut v| {
            // k8s-openapi leaves apiVersion/kind out of the typed body.
            v["apiVersion"] = "networking.k8s.io/v1".into();
            v["kind"] = "Ingress".into();
            v
        }));
    }
    for service in manifests.services.iter().filter(|s| could_be_ours(s)) {
        objects.push(serde_json::to_value(service).map(|mut v| {
            v["apiVersion"] = "v1".into();
            v["kind"] = "Service".into();
            v
        }));
    }
    let mut verdicts = Vec::new();
    for object in objects.into_iter().flatten() {
        let name = describe(&object);
        verdicts.push((name, local::admit(&admission, &object).await));
    }
    verdicts
}

/// The chart's condition for the Service webhooks: `type: LoadBalancer`, a class, or an
/// `aws-load-balancer-*` annotation. Other Services are never sent to them.
pub fn could_be_ours(service: &k8s_openapi::api::core::v1::Service) -> bool {
    let spec = service.spec.as_ref();
    spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
        || spec.is_some_and(|s| s.load_balancer_class.is_some())
        || service
            .metadata
            .annotations
            .iter()
            .flatten()
            .any(|(key, _)| key.starts_with("service.beta.kubernetes.io/aws-load-balancer-"))
}

fn describe(object: &serde_json::Value) -> String {
    let kind = object["kind"].as_str().unwrap_or("object");
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}
