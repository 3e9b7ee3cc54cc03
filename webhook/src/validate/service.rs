//! The Service validator (`vservice.elbv2.k8s.aws`; upstream has none): the
//! `service.beta.kubernetes.io/aws-load-balancer-*` annotations of a Service this controller
//! handles go through the parser its Service model builder uses, so `kubectl apply` refuses a
//! bad value instead of the controller reporting `FailedBuildModel` later.
//!
//! * A Service that is not ours (upstream's selection: class, else `aws-load-balancer-type`)
//!   is allowed without reading its annotations. On CREATE the mutator has already run, so a
//!   class-less LoadBalancer Service arrives with our class.
//! * Each bad key is an error naming the key; unknown `aws-load-balancer-*` keys are warnings.
//! * On UPDATE, an error the stored object already had (same key, same message) is only a
//!   warning: Services admitted before this webhook existed (upstream accepts anything) can
//!   still be edited, and the edit that repairs them is never blocked.
//! * Deleting Services, and updates that change neither the spec nor the annotations (labels,
//!   finalizers), are always allowed.

use k8s_openapi::api::core::v1::Service;

use crate::config::WebhookConfig;
use crate::validate::{Op, Verdict, unknown_annotation_warning};
use contract::annotations::{Annotations, Report};
use contract::service::{Selection, check_annotations};

/// Validate a Service on CREATE or UPDATE (`old` is the stored object on UPDATE).
pub fn validate(
    op: Op,
    service: &Service,
    old: Option<&Service>,
    config: &WebhookConfig,
) -> Verdict {
    let mut verdict = Verdict::default();
    if !changes_what_is_validated(op, service, old) {
        return verdict;
    }
    let selection = selection(config);
    if !selection.is_supported(service) {
        return verdict;
    }
    let report = check_annotations(annotations(service));
    // What the stored object already got wrong, when it was ours too.
    let before = old
        .filter(|o| op == Op::Update && selection.is_supported(o))
        .map(|o| check_annotations(annotations(o)))
        .unwrap_or_default();
    record(&report, &before, &mut verdict);
    verdict
}

fn selection(config: &WebhookConfig) -> Selection {
    Selection {
        load_balancer_class: config.load_balancer_class.clone(),
        load_balancer_type_only: config.service_type_load_balancer_only,
    }
}

/// Whether the Service is one this controller turns into an NLB.
pub fn is_ours(service: &Service, config: &WebhookConfig) -> bool {
    selection(config).is_supported(service)
}

/// Whether the request is one to validate at all: never a Service being deleted, nor an
/// UPDATE that leaves the spec and the annotations as they were.
pub fn changes_what_is_validated(op: Op, service: &Service, old: Option<&Service>) -> bool {
    if service.metadata.deletion_timestamp.is_some() {
        return false;
    }
    !matches!((op, old), (Op::Update, Some(old))
        if old.spec == service.spec && old.metadata.annotations == service.metadata.annotations)
}

fn annotations(service: &Service) -> &Annotations {
    static EMPTY: Annotations = Annotations::new();
    service.metadata.annotations.as_ref().unwrap_or(&EMPTY)
}

fn record(report: &Report, before: &Report, verdict: &mut Verdict) {
    for error in &report.errors {
        if before.errors.contains(error) {
            verdict.warn(format!(
                "{error} (already set before this change, so not refused; the load balancer \
                 cannot be built until it is fixed)"
            ));
        } else {
            verdict.error("annotation", error.to_string());
        }
    }
    for unknown in &report.unknown {
        verdict.warn(unknown_annotation_warning(unknown));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const INTERVAL: &str = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval";
    const SCHEME: &str = "service.beta.kubernetes.io/aws-load-balancer-scheme";

    fn service(spec: Value, annotations: Value) -> Service {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
            "spec": spec
        }))
        .unwrap()
    }

    fn ours(annotations: Value) -> Service {
        service(
            json!({"type": "LoadBalancer", "loadBalancerClass": "service.k8s.aws/nlb"}),
            annotations,
        )
    }

    fn check(op: Op, new: &Service, old: Option<&Service>) -> Verdict {
        validate(op, new, old, &WebhookConfig::default())
    }

    #[test]
    fn a_bad_annotation_on_our_service_is_refused_naming_the_key() {
        let svc = ours(json!({INTERVAL: "abc", SCHEME: "public",
                              "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/healthz"}));
        let verdict = check(Op::Create, &svc, None);
        assert!(!verdict.allowed());
        assert_eq!(verdict.category, Some("annotation"));
        assert_eq!(verdict.errors.len(), 2, "{verdict:?}");
        assert!(
            verdict.errors.iter().any(|e| e.starts_with(INTERVAL)),
            "{verdict:?}"
        );
        assert!(
            verdict.errors.iter().any(|e| e.starts_with(SCHEME)),
            "{verdict:?}"
        );
        let message = verdict.message("Service shop/web").unwrap();
        assert!(
            message.starts_with(&format!("Service shop/web: {INTERVAL}: ")),
            "{message}"
        );
    }

    #[test]
    fn good_annotations_are_allowed() {
        let svc = ours(json!({INTERVAL: "10", SCHEME: "internet-facing"}));
        assert_eq!(check(Op::Create, &svc, None), Verdict::default());
        assert_eq!(
            check(Op::Create, &ours(json!(null)), None),
            Verdict::default()
        );
    }

    #[test]
    fn every_way_of_being_ours_is_validated() {
        let bad = json!({INTERVAL: "abc"});
        for (what, spec, extra) in [
            (
                "nlb-ip",
                json!({"type": "LoadBalancer"}),
                json!({"service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip"}),
            ),
            (
                "external + ip on a NodePort",
                json!({"type": "NodePort"}),
                json!({"service.beta.kubernetes.io/aws-load-balancer-type": "external",
                    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}),
            ),
        ] {
            let mut annotations = bad.clone();
            for (k, v) in extra.as_object().unwrap() {
                annotations[k] = v.clone();
            }
            let verdict = check(Op::Create, &service(spec, annotations), None);
            assert!(!verdict.allowed(), "{what}: {verdict:?}");
        }
    }

    #[test]
    fn services_that_are_not_ours_are_allowed_unread() {
        let bad = json!({INTERVAL: "abc", "service.beta.kubernetes.io/aws-load-balancer-hc-intervall": "1"});
        for (what, spec, extra) in [
            ("ClusterIP", json!({"type": "ClusterIP"}), json!({})),
            (
                "another class",
                json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/lb"}),
                json!({}),
            ),
            // A LoadBalancer without class is the mutator's to claim; without it, not ours.
            (
                "class-less LoadBalancer",
                json!({"type": "LoadBalancer"}),
                json!({}),
            ),
            (
                "in-tree nlb",
                json!({"type": "LoadBalancer"}),
                json!({"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}),
            ),
            (
                "external alone",
                json!({"type": "LoadBalancer"}),
                json!({"service.beta.kubernetes.io/aws-load-balancer-type": "external"}),
            ),
        ] {
            let mut annotations = bad.clone();
            for (k, v) in extra.as_object().unwrap() {
                annotations[k] = v.clone();
            }
            let verdict = check(Op::Create, &service(spec, annotations), None);
            assert_eq!(verdict, Verdict::default(), "{what}");
        }
    }

    #[test]
    fn the_configured_class_and_gate_decide_what_is_ours() {
        let bad = json!({INTERVAL: "abc"});
        let config = WebhookConfig {
            load_balancer_class: "example.com/lb".to_string(),
            ..WebhookConfig::default()
        };
        let theirs = ours(bad.clone());
        assert!(validate(Op::Create, &theirs, None, &config).allowed());
        let mine = service(
            json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/lb"}),
            bad.clone(),
        );
        assert!(!validate(Op::Create, &mine, None, &config).allowed());
        // ServiceTypeLoadBalancerOnly: an annotated NodePort Service is no longer ours.
        let node_port = service(
            json!({"type": "NodePort"}),
            json!({INTERVAL: "abc", "service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip"}),
        );
        assert!(!check(Op::Create, &node_port, None).allowed());
        let gated = WebhookConfig {
            service_type_load_balancer_only: true,
            ..WebhookConfig::default()
        };
        assert!(validate(Op::Create, &node_port, None, &gated).allowed());
    }

    #[test]
    fn unknown_keys_are_warnings_with_a_suggestion() {
        let svc = ours(json!({
            "service.beta.kubernetes.io/aws-load-balancer-schem": "internal",
            "service.beta.kubernetes.io/aws-load-balancer-zzz-not-a-key": "x",
            "service.beta.kubernetes.io/other-provider-thing": "x",
        }));
        let verdict = check(Op::Create, &svc, None);
        assert!(verdict.allowed(), "{verdict:?}");
        assert_eq!(
            verdict.warnings,
            [
                format!(
                    "unknown annotation service.beta.kubernetes.io/aws-load-balancer-schem is \
                     ignored (did you mean {SCHEME}?)"
                ),
                "unknown annotation service.beta.kubernetes.io/aws-load-balancer-zzz-not-a-key \
                 is ignored"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn an_error_the_stored_service_already_had_is_only_a_warning_on_update() {
        let old = ours(json!({INTERVAL: "abc"}));
        let mut edited = ours(json!({INTERVAL: "abc"}));
        edited.spec.as_mut().unwrap().ports =
            Some(vec![serde_json::from_value(json!({"port": 443})).unwrap()]);
        let verdict = check(Op::Update, &edited, Some(&old));
        assert!(verdict.allowed(), "{verdict:?}");
        assert_eq!(verdict.warnings.len(), 1);
        assert!(verdict.warnings[0].starts_with(INTERVAL), "{verdict:?}");
        // A new or changed bad value is refused.
        let changed = ours(json!({INTERVAL: "xyz"}));
        assert!(!check(Op::Update, &changed, Some(&old)).allowed());
        let added = ours(json!({INTERVAL: "abc", SCHEME: "public"}));
        let verdict = check(Op::Update, &added, Some(&old));
        assert_eq!(verdict.errors.len(), 1, "{verdict:?}");
        assert!(verdict.errors[0].starts_with(SCHEME), "{verdict:?}");
        // The repair is admitted.
        let fixed = ours(json!({INTERVAL: "10"}));
        assert_eq!(check(Op::Update, &fixed, Some(&old)), Verdict::default());
        // Becoming ours with a bad value is refused even if the value was there before.
        let was_not_ours = service(json!({"type": "NodePort"}), json!({INTERVAL: "abc"}));
        let now_ours = service(
            json!({"type": "NodePort"}),
            json!({INTERVAL: "abc", "service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip"}),
        );
        assert!(!check(Op::Update, &now_ours, Some(&was_not_ours)).allowed());
    }

    #[test]
    fn metadata_only_updates_and_deletions_are_allowed() {
        let old = ours(json!({INTERVAL: "abc"}));
        let mut labelled = old.clone();
        labelled.metadata.labels = Some([("a".to_string(), "b".to_string())].into());
        labelled.metadata.finalizers = Some(vec!["service.k8s.aws/resources".to_string()]);
        assert_eq!(check(Op::Update, &labelled, Some(&old)), Verdict::default());
        let mut deleting = ours(json!({INTERVAL: "nope"}));
        deleting.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap());
        assert_eq!(check(Op::Update, &deleting, Some(&old)), Verdict::default());
    }
}
