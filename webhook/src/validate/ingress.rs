//! The Ingress validator: everything about one Ingress that can be known at `kubectl apply`.
//!
//! Upstream validates little at admission (class, a few flags, `conditions.*`) and leaves the
//! rest to reconcile-time events. Here every `alb.ingress.kubernetes.io/*` annotation goes
//! through the controller's own parser, the IngressClassParams is loaded and its
//! namespaceSelector checked, and spec shapes the model builder would reject are refused.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress};

use crate::config::WebhookConfig;
use crate::validate::{Op, Verdict, unknown_annotation_warning};
use contract::annotations::{self, Annotations, IngressAnnotations};
use contract::class::{self, ClassError, Classification, LEGACY_CLASS_ANNOTATION};
use contract::cluster::ClusterView;
use contract::params;

/// The port name that makes a path's backend an `actions.<service name>` annotation.
pub const USE_ANNOTATION: &str = "use-annotation";

const GROUP_NAME_KEY: &str = "alb.ingress.kubernetes.io/group.name";

/// Validate an Ingress on CREATE or UPDATE (`old` is set on UPDATE).
pub fn validate(
    op: Op,
    ingress: &Ingress,
    old: Option<&Ingress>,
    cluster: &dyn ClusterView,
    config: &WebhookConfig,
) -> Verdict {
    let mut verdict = Verdict::default();
    if !changes_what_is_validated(op, ingress, old) {
        return verdict;
    }

    let class = match class::classify(ingress, cluster, &config.ingress_class, true) {
        Ok(Classification::NotOurs) => return verdict,
        Ok(Classification::Ours(class)) => Some(class),
        Err(err @ ClassError::NamespaceUnknown(..)) => {
            verdict.warn(err.to_string());
            None
        }
        Err(err) => return verdict.deny(err.category(), err.to_string()),
    };

    let empty = Annotations::new();
    let anns = ingress.metadata.annotations.as_ref().unwrap_or(&empty);
    let old_anns = old.and_then(|o| o.metadata.annotations.as_ref());

    if config.disable_ingress_class_annotation
        && class.as_ref().is_some_and(|c| c.by_legacy_annotation)
        && old_anns.and_then(|a| a.get(LEGACY_CLASS_ANNOTATION))
            != anns.get(LEGACY_CLASS_ANNOTATION)
    {
        verdict.error(
            "ingress_class",
            "new usage of `kubernetes.io/ingress.class` annotation is forbidden",
        );
    }
    if config.disable_ingress_group_name_annotation
        && let Some(group) = anns.get(GROUP_NAME_KEY)
        && old_anns.and_then(|a| a.get(GROUP_NAME_KEY)) != Some(group)
    {
        verdict.error(
            "group",
            "new usage of `alb.ingress.kubernetes.io/group.name` annotation is forbidden",
        );
    }

    let report = annotations::check_all(anns);
    for err in &report.errors {
        verdict.error("annotation", err.to_string());
    }
    for unknown in &report.unknown {
        verdict.warn(unknown_annotation_warning(unknown));
    }
    // The typed parse reads every annotation again (`check_all` above has found each key's
    // errors); its only use here is the tags, against `--external-managed-tags`, so it runs only
    // when such keys are configured. As before, the tags count only when every Ingress-level
    // annotation parses.
    let parsed = if config.external_managed_tags.is_empty() {
        None
    } else {
        IngressAnnotations::parse(anns).ok()
    };
    if let Some(tags) = parsed.as_ref().and_then(|p| p.tags.as_ref()) {
        for key in tags.keys() {
            if config.external_managed_tags.iter().any(|k| k == key) {
                verdict.error(
                    "annotation",
                    format!(
                        "{}tags: external managed tag key {key} cannot be specified",
                        annotations::PREFIX
                    ),
                );
            }
        }
    }

    if let Some(params) = class.as_ref().and_then(|c| c.params.as_ref()) {
        let name = params.metadata.name.as_deref().unwrap_or_default();
        if let Err(errors) = params::check(&params.spec) {
            for e in errors {
                verdict.error(
                    "ingress_class_params",
                    format!("IngressClassParams {name}: {e}"),
                );
            }
        }
        for (key, field) in params::overridden(anns, &params.spec) {
            verdict.warn(format!(
                "{key} is ignored: IngressClassParams {name} sets spec.{field}"
            ));
        }
    }

    check_spec(ingress, anns, &mut verdict);
    verdict
}

/// Whether the request is one to validate at all: never an Ingress being deleted (only
/// finalizer removal is left, which must never be blocked), nor an UPDATE of labels,
/// finalizers or other metadata only.
pub fn changes_what_is_validated(op: Op, ingress: &Ingress, old: Option<&Ingress>) -> bool {
    if ingress.metadata.deletion_timestamp.is_some() {
        return false;
    }
    !matches!((op, old), (Op::Update, Some(old))
        if old.spec == ingress.spec && old.metadata.annotations == ingress.metadata.annotations)
}

/// Shapes of `spec` the model builder would refuse.
fn check_spec(ingress: &Ingress, anns: &Annotations, verdict: &mut Verdict) {
    let Some(spec) = ingress.spec.as_ref() else {
        return;
    };
    let mut backends = Vec::new();
    if let Some(backend) = spec.default_backend.as_ref() {
        backends.push(("spec.defaultBackend".to_string(), backend));
    }
    for (i, rule) in spec.rules.iter().flatten().enumerate() {
        for (j, path) in rule.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
            let at = format!("spec.rules[{i}].http.paths[{j}]");
            check_path(&at, path, verdict);
            backends.push((format!("{at}.backend"), &path.backend));
        }
    }
    let mut missing_actions = BTreeMap::new();
    for (at, backend) in backends {
        let Some(service) = backend.service.as_ref() else {
            verdict.error("spec", format!("{at}: missing required \"service\" field"));
            continue;
        };
        let port_name = service.port.as_ref().and_then(|p| p.name.as_deref());
        if port_name == Some(USE_ANNOTATION) {
            // The annotation's presence, whether or not its value parses (a bad value is
            // already an error of `check_all`).
            let has_action =
                anns.contains_key(&format!("{}actions.{}", annotations::PREFIX, service.name));
            if !has_action {
                missing_actions.insert(service.name.clone(), at);
            }
        }
    }
    for (name, at) in missing_actions {
        verdict.warn(format!(
            "{at} uses port name {USE_ANNOTATION} but annotation {}actions.{name} is missing; \
             the rule will answer 503",
            annotations::PREFIX
        ));
    }
}

fn check_path(at: &str, path: &HTTPIngressPath, verdict: &mut Verdict) {
    let value = path.path.as_deref().unwrap_or_default();
    let wildcard = value.contains('*') || value.contains('?');
    match path.path_type.as_str() {
        "Exact" if wildcard => verdict.error(
            "spec",
            format!("{at}: exact path shouldn't contain wildcards: {value}"),
        ),
        "Prefix" if wildcard => verdict.error(
            "spec",
            format!("{at}: prefix path shouldn't contain wildcards: {value}"),
        ),
        "Exact" | "Prefix" | "ImplementationSpecific" => {}
        _ => verdict.error("spec", format!("{at}: unknown pathType for path {value}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::networking::v1::IngressClass;

    use super::*;
    use contract::cluster::StaticCluster;

    fn cluster() -> StaticCluster {
        let alb: IngressClass = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "alb"},
            "spec": {"controller": "ingress.k8s.aws/alb"}
        }))
        .unwrap();
        StaticCluster {
            ingress_classes: vec![Arc::new(alb)],
            ..StaticCluster::default()
        }
    }

    /// An `alb` Ingress with these annotations (keys without the prefix) and one rule whose
    /// backend is `actions.canary`.
    fn ingress(annotations: &[(&str, &str)]) -> Ingress {
        let annotations: BTreeMap<String, String> = annotations
            .iter()
            .map(|(k, v)| (format!("{}{k}", annotations::PREFIX), v.to_string()))
            .collect();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
            "spec": {
                "ingressClassName": "alb",
                "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "canary", "port": {"name": USE_ANNOTATION}}}}]}}]
            }
        }))
        .unwrap()
    }

    fn managing(keys: &[&str]) -> WebhookConfig {
        WebhookConfig {
            external_managed_tags: keys.iter().map(|k| k.to_string()).collect(),
            ..WebhookConfig::default()
        }
    }

    const FORWARD: &str = r#"{"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "web", "servicePort": "80"}]}}"#;

    #[test]
    fn external_managed_tag_keys_are_refused_only_when_configured() {
        let ing = ingress(&[("tags", "Team=shop,Env=prod"), ("actions.canary", FORWARD)]);
        let plain = validate(Op::Create, &ing, None, &cluster(), &managing(&[]));
        assert_eq!(plain, Verdict::default());

        let managed = validate(Op::Create, &ing, None, &cluster(), &managing(&["Env"]));
        assert_eq!(
            managed.errors,
            ["alb.ingress.kubernetes.io/tags: external managed tag key Env cannot be specified"]
        );
        assert_eq!(managed.category, Some("annotation"));
    }

    #[test]
    fn tags_are_not_read_against_managed_keys_when_another_annotation_is_bad() {
        let ing = ingress(&[
            ("tags", "Env=prod"),
            ("scheme", "public"),
            ("actions.canary", FORWARD),
        ]);
        let verdict = validate(Op::Create, &ing, None, &cluster(), &managing(&["Env"]));
        assert_eq!(verdict.errors.len(), 1, "{:?}", verdict.errors);
        assert!(verdict.errors[0].starts_with("alb.ingress.kubernetes.io/scheme: "));
    }

    #[test]
    fn a_present_but_bad_action_is_an_error_not_a_missing_action() {
        let ing = ingress(&[("actions.canary", r#"{"type": "teleport"}"#)]);
        let verdict = validate(Op::Create, &ing, None, &cluster(), &managing(&[]));
        assert_eq!(verdict.errors.len(), 1, "{:?}", verdict.errors);
        assert!(verdict.errors[0].starts_with("alb.ingress.kubernetes.io/actions.canary: "));
        assert!(verdict.warnings.is_empty(), "{:?}", verdict.warnings);

        let missing = validate(Op::Create, &ingress(&[]), None, &cluster(), &managing(&[]));
        assert!(missing.allowed());
        assert_eq!(
            missing.warnings,
            [
                "spec.rules[0].http.paths[0].backend uses port name use-annotation but annotation \
                 alb.ingress.kubernetes.io/actions.canary is missing; the rule will answer 503"
            ]
        );
    }
}
