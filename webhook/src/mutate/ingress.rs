//! The Ingress mutator: write the controller's defaults into the object, so what a user reads
//! back with `kubectl get -o yaml` is what the controller builds.
//!
//! Two annotations are defaulted, and only when absent:
//! * `alb.ingress.kubernetes.io/target-type`: the IngressClassParams' `targetType`, else the
//!   controller's `--default-target-type`;
//! * `alb.ingress.kubernetes.io/listen-ports`: `[{"HTTPS":443}]` when certificates are configured
//!   (annotation or IngressClassParams `certificateArn`), else `[{"HTTP":80}]`.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::Value;

use crate::admission::WebhookConfig;
use crate::annotations::{self, Annotations};
use crate::class::{self, ClassConfig, ClassError, Classification};
use crate::cluster::ClusterView;

pub const TARGET_TYPE_KEY: &str = "alb.ingress.kubernetes.io/target-type";
pub const LISTEN_PORTS_KEY: &str = "alb.ingress.kubernetes.io/listen-ports";
pub const CERTIFICATE_ARN_KEY: &str = "alb.ingress.kubernetes.io/certificate-arn";
pub const DEFAULT_HTTP_PORTS: &str = r#"[{"HTTP":80}]"#;
pub const DEFAULT_HTTPS_PORTS: &str = r#"[{"HTTPS":443}]"#;

/// The patch that adds the missing defaults, or `None` when there is nothing to add or the
/// Ingress is not ours (the validator reports class problems).
pub fn mutate(
    ingress: &Ingress,
    cluster: &dyn ClusterView,
    config: &WebhookConfig,
) -> Option<Patch> {
    if ingress.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let class = match class::classify(ingress, cluster, &config.ingress_class, true) {
        Ok(Classification::Ours(class)) => class,
        Err(ClassError::NamespaceUnknown(..)) => {
            match class::classify(ingress, cluster, &config.ingress_class, false) {
                Ok(Classification::Ours(class)) => class,
                _ => return None,
            }
        }
        _ => return None,
    };
    let empty = Annotations::new();
    let anns = ingress.metadata.annotations.as_ref().unwrap_or(&empty);
    let defaults = defaults(anns, &class, config);
    if defaults.is_empty() {
        return None;
    }
    Some(patch_adding(
        ingress.metadata.annotations.is_some(),
        defaults,
    ))
}

/// The (key, value) pairs to add.
fn defaults(
    anns: &Annotations,
    class: &ClassConfig,
    config: &WebhookConfig,
) -> Vec<(&'static str, String)> {
    let params = class.params.as_ref().map(|p| &p.spec);
    let mut out = Vec::new();
    if !anns.contains_key(TARGET_TYPE_KEY) {
        let target_type = params
            .and_then(|p| p.target_type.as_ref())
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| config.default_target_type.clone());
        out.push((TARGET_TYPE_KEY, target_type));
    }
    if !anns.contains_key(LISTEN_PORTS_KEY) {
        let from_annotation = anns.get(CERTIFICATE_ARN_KEY).is_some_and(|v| {
            annotations::parse_string_list(v)
                .iter()
                .any(|s| !s.is_empty())
        });
        let from_params = params
            .and_then(|p| p.certificate_arn.as_ref())
            .is_some_and(|arns| !arns.is_empty());
        let ports = if from_annotation || from_params {
            DEFAULT_HTTPS_PORTS
        } else {
            DEFAULT_HTTP_PORTS
        };
        out.push((LISTEN_PORTS_KEY, ports.to_string()));
    }
    out
}

fn patch_adding(has_annotations: bool, defaults: Vec<(&'static str, String)>) -> Patch {
    if !has_annotations {
        let map = defaults
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
        return Patch(vec![add(&["metadata", "annotations"], Value::Object(map))]);
    }
    Patch(
        defaults
            .into_iter()
            .map(|(k, v)| add(&["metadata", "annotations", k], Value::String(v)))
            .collect(),
    )
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}
