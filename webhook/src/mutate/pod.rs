//! The Pod readiness-gate mutator (CREATE only): a new pod behind an `ip` TargetGroupBinding
//! gets the readiness gate `target-health.elbv2.k8s.aws/<binding>`, so a rollout waits until
//! the load balancer reports the pod healthy.
//!
//! The bindings considered are those of type `ip` in the pod's namespace (the admission
//! request's namespace: a new pod may not carry one yet) whose Service has a non-empty
//! selector matching the pod's labels. When any gate is added, legacy gates
//! (`target-health.alb.ingress.k8s.aws*`, from the v1 controller) are dropped.

use std::collections::BTreeMap;
use std::sync::Arc;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::{Pod, PodReadinessGate};

use contract::crd::{TargetGroupBinding, TargetType};

/// Prefix of the gates this controller manages.
pub const READINESS_GATE_PREFIX: &str = "target-health.elbv2.k8s.aws/";
/// Prefix of the v1 controller's gates, removed when ours are added.
pub const LEGACY_READINESS_GATE_PREFIX: &str = "target-health.alb.ingress.k8s.aws";

/// The gate names a new pod needs, sorted, including those it already has.
///
/// `service_selector` returns the selector of a Service in the pod's namespace, `None` when
/// the Service does not exist (its bindings are skipped).
pub fn wanted_gates(
    pod: &Pod,
    namespace: &str,
    bindings: &[Arc<TargetGroupBinding>],
    service_selector: &dyn Fn(&str) -> Option<BTreeMap<String, String>>,
) -> Vec<String> {
    let empty = BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    let mut gates: Vec<String> = bindings
        .iter()
        .filter(|b| b.metadata.namespace.as_deref() == Some(namespace))
        .filter(|b| b.spec.target_type == Some(TargetType::Ip))
        .filter(|b| {
            service_selector(&b.spec.service_ref.name).is_some_and(|selector| {
                !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
        })
        .filter_map(|b| b.metadata.name.as_deref())
        .map(|name| format!("{READINESS_GATE_PREFIX}{name}"))
        .collect();
    gates.sort();
    gates.dedup();
    gates
}

/// The JSON patch that adds the missing gates (and drops legacy ones), `None` when the pod
/// needs no new gate.
pub fn mutate(
    pod: &Pod,
    namespace: &str,
    bindings: &[Arc<TargetGroupBinding>],
    service_selector: &dyn Fn(&str) -> Option<BTreeMap<String, String>>,
) -> Option<Patch> {
    let existing: Vec<PodReadinessGate> = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.clone())
        .unwrap_or_default();
    let missing: Vec<String> = wanted_gates(pod, namespace, bindings, service_selector)
        .into_iter()
        .filter(|gate| !existing.iter().any(|g| &g.condition_type == gate))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut gates: Vec<PodReadinessGate> = existing
        .into_iter()
        .filter(|g| !g.condition_type.starts_with(LEGACY_READINESS_GATE_PREFIX))
        .collect();
    gates.extend(
        missing
            .into_iter()
            .map(|condition_type| PodReadinessGate { condition_type }),
    );
    let value = serde_json::to_value(&gates).ok()?;
    // `add` on an existing member replaces it (RFC 6902), so one op covers both cases.
    Some(Patch(vec![PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(["spec", "readinessGates"]),
        value,
    })]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::crd::{ServiceReference, TargetGroupBindingSpec};
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use serde_json::json;

    fn binding(
        ns: &str,
        name: &str,
        service: &str,
        target_type: TargetType,
    ) -> Arc<TargetGroupBinding> {
        let mut b = TargetGroupBinding::new(
            name,
            TargetGroupBindingSpec {
                target_group_arn: Some("arn:tg".into()),
                target_type: Some(target_type),
                service_ref: ServiceReference {
                    name: service.into(),
                    port: IntOrString::Int(80),
                },
                ..TargetGroupBindingSpec::default()
            },
        );
        b.metadata.namespace = Some(ns.into());
        Arc::new(b)
    }

    fn pod(labels: &[(&str, &str)], gates: &[&str]) -> Pod {
        let mut p = Pod::default();
        p.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
        if !gates.is_empty() {
            p.spec = Some(PodSpec {
                readiness_gates: Some(
                    gates
                        .iter()
                        .map(|g| PodReadinessGate {
                            condition_type: (*g).into(),
                        })
                        .collect(),
                ),
                ..PodSpec::default()
            });
        }
        p
    }

    fn selectors(service: &str) -> Option<BTreeMap<String, String>> {
        match service {
            "web" => Some(BTreeMap::from([("app".into(), "web".into())])),
            "web-v2" => Some(BTreeMap::from([
                ("app".into(), "web".into()),
                ("v".into(), "2".into()),
            ])),
            "headless" => Some(BTreeMap::new()),
            _ => None,
        }
    }

    fn bindings() -> Vec<Arc<TargetGroupBinding>> {
        vec![
            binding("ns", "tgb-web", "web", TargetType::Ip),
            binding("ns", "tgb-v2", "web-v2", TargetType::Ip),
            binding("ns", "tgb-instance", "web", TargetType::Instance),
            binding("ns", "tgb-headless", "headless", TargetType::Ip),
            binding("ns", "tgb-missing", "gone", TargetType::Ip),
            binding("other", "tgb-other-ns", "web", TargetType::Ip),
        ]
    }

    #[test]
    fn gates_for_matching_ip_bindings_in_the_namespace() {
        let p = pod(&[("app", "web")], &[]);
        assert_eq!(
            wanted_gates(&p, "ns", &bindings(), &selectors),
            ["target-health.elbv2.k8s.aws/tgb-web"]
        );
        let v2 = pod(&[("app", "web"), ("v", "2")], &[]);
        assert_eq!(
            wanted_gates(&v2, "ns", &bindings(), &selectors),
            [
                "target-health.elbv2.k8s.aws/tgb-v2",
                "target-health.elbv2.k8s.aws/tgb-web"
            ]
        );
        let unrelated = pod(&[("app", "db")], &[]);
        assert!(wanted_gates(&unrelated, "ns", &bindings(), &selectors).is_empty());
        assert!(mutate(&unrelated, "ns", &bindings(), &selectors).is_none());
    }

    #[test]
    fn patch_adds_missing_gates_and_drops_legacy_ones() {
        let p = pod(
            &[("app", "web"), ("v", "2")],
            &[
                "target-health.alb.ingress.k8s.aws/old",
                "custom/gate",
                "target-health.elbv2.k8s.aws/tgb-web",
            ],
        );
        let patch = mutate(&p, "ns", &bindings(), &selectors).expect("a gate is missing");
        assert_eq!(
            serde_json::to_value(&patch).expect("encodes"),
            json!([{"op": "add", "path": "/spec/readinessGates", "value": [
                {"conditionType": "custom/gate"},
                {"conditionType": "target-health.elbv2.k8s.aws/tgb-web"},
                {"conditionType": "target-health.elbv2.k8s.aws/tgb-v2"}
            ]}])
        );
        // Nothing missing: no patch, legacy gates stay.
        let done = pod(
            &[("app", "web")],
            &[
                "target-health.alb.ingress.k8s.aws/old",
                "target-health.elbv2.k8s.aws/tgb-web",
            ],
        );
        assert!(mutate(&done, "ns", &bindings(), &selectors).is_none());
    }

    #[test]
    fn patch_applies_to_a_pod_without_gates() {
        let p = pod(&[("app", "web")], &[]);
        let patch = mutate(&p, "ns", &bindings(), &selectors).expect("patch");
        let mut doc = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}});
        json_patch::patch(&mut doc, &patch).expect("applies");
        assert_eq!(
            doc["spec"]["readinessGates"],
            json!([{"conditionType": "target-health.elbv2.k8s.aws/tgb-web"}])
        );
    }
}
