//! The Service mutator (`mservice.elbv2.k8s.aws`), upstream's rules:
//!
//! * CREATE: a `type: LoadBalancer` Service whose `spec.loadBalancerClass` is absent or empty
//!   gets the configured class (`--load-balancer-class`), which makes this controller the
//!   cluster's default LoadBalancer implementation. The `aws-load-balancer-type` annotation
//!   plays no part, as upstream.
//! * UPDATE: a `type: LoadBalancer` Service that had a non-empty class and is sent without one
//!   (`kubectl replace`, `helm rollback --force`) gets its old class back, since the API server
//!   refuses to change the class once set. Any old class is restored, not only ours.
//!
//! Everything else is admitted unchanged; the mutator never refuses.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::Service;
use serde_json::Value;

use crate::validate::Op;

/// `spec.type` of the Services the mutator touches.
pub const LOAD_BALANCER: &str = "LoadBalancer";

/// The JSON patch setting `spec.loadBalancerClass`, `None` when the Service keeps its own.
///
/// `old` is the stored object on UPDATE.
pub fn mutate(op: Op, service: &Service, old: Option<&Service>, class: &str) -> Option<Patch> {
    if !is_load_balancer(service) || class_of(service).is_some() {
        return None;
    }
    let wanted = match op {
        Op::Create => class,
        Op::Update => class_of(old?)?,
    };
    if wanted.is_empty() {
        return None;
    }
    // `add` replaces an existing member (an empty string), so one op covers both cases.
    Some(Patch(vec![PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(["spec", "loadBalancerClass"]),
        value: Value::String(wanted.to_string()),
    })]))
}

/// Whether `spec.type` is `LoadBalancer`.
pub fn is_load_balancer(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .is_some_and(|t| t == LOAD_BALANCER)
}

/// `spec.loadBalancerClass` when set and non-empty.
fn class_of(service: &Service) -> Option<&str> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.load_balancer_class.as_deref())
        .filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CLASS: &str = "service.k8s.aws/nlb";

    fn service(spec: Value) -> Service {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": spec
        }))
        .unwrap()
    }

    /// The object after the patch, as the API server would store it.
    fn applied(service: &Service, patch: &Patch) -> Value {
        let mut doc = serde_json::to_value(service).unwrap();
        json_patch::patch(&mut doc, patch).unwrap();
        doc
    }

    #[test]
    fn create_gives_a_classless_load_balancer_the_configured_class() {
        let svc = service(json!({"type": "LoadBalancer", "ports": [{"port": 80}]}));
        let patch = mutate(Op::Create, &svc, None, CLASS).expect("a patch");
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!([{"op": "add", "path": "/spec/loadBalancerClass", "value": CLASS}])
        );
        assert_eq!(applied(&svc, &patch)["spec"]["loadBalancerClass"], CLASS);
        // The configured class is the one set.
        let other = mutate(Op::Create, &svc, None, "example.com/lb").expect("a patch");
        assert_eq!(
            applied(&svc, &other)["spec"]["loadBalancerClass"],
            "example.com/lb"
        );
    }

    #[test]
    fn create_replaces_an_empty_class() {
        let svc = service(json!({"type": "LoadBalancer", "loadBalancerClass": ""}));
        let patch = mutate(Op::Create, &svc, None, CLASS).expect("a patch");
        assert_eq!(applied(&svc, &patch)["spec"]["loadBalancerClass"], CLASS);
    }

    #[test]
    fn create_claims_in_tree_annotated_services_too() {
        // As upstream: the aws-load-balancer-type annotation is not looked at.
        let mut svc = service(json!({"type": "LoadBalancer"}));
        svc.metadata.annotations = Some(
            [(
                "service.beta.kubernetes.io/aws-load-balancer-type".to_string(),
                "nlb".to_string(),
            )]
            .into(),
        );
        assert!(mutate(Op::Create, &svc, None, CLASS).is_some());
    }

    #[test]
    fn an_existing_class_is_kept() {
        let svc =
            service(json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/other"}));
        assert!(mutate(Op::Create, &svc, None, CLASS).is_none());
        let old = service(json!({"type": "LoadBalancer", "loadBalancerClass": CLASS}));
        assert!(mutate(Op::Update, &svc, Some(&old), CLASS).is_none());
    }

    #[test]
    fn services_of_other_types_are_untouched() {
        for kind in ["ClusterIP", "NodePort", "ExternalName"] {
            let svc = service(json!({"type": kind}));
            assert!(mutate(Op::Create, &svc, None, CLASS).is_none(), "{kind}");
            let old = service(json!({"type": "LoadBalancer", "loadBalancerClass": CLASS}));
            assert!(
                mutate(Op::Update, &svc, Some(&old), CLASS).is_none(),
                "{kind}"
            );
        }
        // No spec at all (never sent by an API server, which defaults the type).
        let bare: Service = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
        assert!(mutate(Op::Create, &bare, None, CLASS).is_none());
    }

    #[test]
    fn update_copies_back_a_class_the_new_object_dropped() {
        let old =
            service(json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/other"}));
        for new in [
            service(json!({"type": "LoadBalancer"})),
            service(json!({"type": "LoadBalancer", "loadBalancerClass": ""})),
        ] {
            let patch = mutate(Op::Update, &new, Some(&old), CLASS).expect("a patch");
            // The old class, whatever it is: not the configured one.
            assert_eq!(
                applied(&new, &patch)["spec"]["loadBalancerClass"],
                "example.com/other"
            );
        }
    }

    #[test]
    fn update_without_an_old_class_changes_nothing() {
        let new = service(json!({"type": "LoadBalancer"}));
        for old in [
            service(json!({"type": "LoadBalancer"})),
            service(json!({"type": "LoadBalancer", "loadBalancerClass": ""})),
            service(json!({"type": "ClusterIP"})),
        ] {
            assert!(mutate(Op::Update, &new, Some(&old), CLASS).is_none());
        }
        // UPDATE never sets the configured class on its own.
        assert!(mutate(Op::Update, &new, None, CLASS).is_none());
    }
}
