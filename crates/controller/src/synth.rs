//! What a deployed stack means for Kubernetes: the Ingress status and the TargetGroupBindings
//! (with the stack's `$ref`s resolved from the deploy report). Pure.

use std::collections::BTreeSet;

use contract::crd::TargetGroupBinding;
use k8s_openapi::api::networking::v1::{
    IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressPortStatus, IngressStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use crate::backends::DeployReport;
use model::stack::{Ref, ResourceType, Stack};

/// The `status.loadBalancer` of every active member: one entry with the lowercased DNS name
/// and the listener ports, sorted.
pub fn desired_status(dns_name: &str, stack: &Stack) -> IngressLoadBalancerStatus {
    desired_status_with_frontend(dns_name, None, stack)
}

/// [`desired_status`], plus a second entry with the frontend NLB's hostname (lower-case) when
/// the group has one (`enable-frontend-nlb`).
pub fn desired_status_with_frontend(
    dns_name: &str,
    frontend_dns_name: Option<&str>,
    stack: &Stack,
) -> IngressLoadBalancerStatus {
    // The ALB's own listeners, not the frontend NLB's.
    let nlb = model::stack::StringToken::from(Ref::frontend_nlb_arn());
    let ports: BTreeSet<u16> = stack
        .resources
        .listeners
        .values()
        .filter(|l| l.spec.load_balancer_arn != nlb)
        .map(|l| l.spec.port)
        .collect();
    let mut ingress = vec![IngressLoadBalancerIngress {
        hostname: Some(dns_name.to_ascii_lowercase()),
        ip: None,
        ports: (!ports.is_empty()).then(|| {
            ports
                .into_iter()
                .map(|port| IngressPortStatus {
                    port: i32::from(port),
                    protocol: "TCP".to_owned(),
                    error: None,
                })
                .collect()
        }),
    }];
    if let Some(nlb) = frontend_dns_name {
        ingress.push(IngressLoadBalancerIngress {
            hostname: Some(nlb.to_ascii_lowercase()),
            ip: None,
            ports: None,
        });
    }
    IngressLoadBalancerStatus {
        ingress: Some(ingress),
    }
}

/// Whether the current status already says what `desired` says (hostnames and port sets;
/// other writers' port protocols and errors are not compared).
pub fn status_matches(
    current: Option<&IngressStatus>,
    desired: &IngressLoadBalancerStatus,
) -> bool {
    fn normal(
        status: Option<&IngressLoadBalancerStatus>,
    ) -> Vec<(Option<String>, Option<String>, BTreeSet<i32>)> {
        status
            .and_then(|s| s.ingress.as_ref())
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    i.hostname.clone(),
                    i.ip.clone(),
                    i.ports.iter().flatten().map(|p| p.port).collect(),
                )
            })
            .collect()
    }
    normal(current.and_then(|s| s.load_balancer.as_ref())) == normal(Some(desired))
}

/// A stack's binding that cannot be turned into an object.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("TargetGroupBinding {id}: reference {pointer} is not resolved by the deploy")]
    Unresolved { id: String, pointer: String },
    #[error("TargetGroupBinding {id}: {source}")]
    Invalid {
        id: String,
        source: serde_json::Error,
    },
}

/// The TargetGroupBindings of a deployed stack, ready to apply.
pub fn desired_bindings(
    stack: &Stack,
    report: &DeployReport,
) -> Result<Vec<TargetGroupBinding>, SynthError> {
    let mut out = Vec::with_capacity(stack.resources.target_group_bindings.len());
    for (id, resource) in &stack.resources.target_group_bindings {
        let template = &resource.spec.template;
        let mut spec =
            serde_json::to_value(&template.spec).map_err(|source| SynthError::Invalid {
                id: id.clone(),
                source,
            })?;
        resolve(&mut spec, report).map_err(|pointer| SynthError::Unresolved {
            id: id.clone(),
            pointer,
        })?;
        let spec = serde_json::from_value(spec).map_err(|source| SynthError::Invalid {
            id: id.clone(),
            source,
        })?;
        let mut binding = TargetGroupBinding::new(&template.metadata.name, spec);
        binding.metadata = ObjectMeta {
            name: Some(template.metadata.name.clone()),
            namespace: Some(template.metadata.namespace.clone()),
            labels: (!template.metadata.labels.is_empty())
                .then(|| template.metadata.labels.clone()),
            annotations: (!template.metadata.annotations.is_empty())
                .then(|| template.metadata.annotations.clone()),
            ..ObjectMeta::default()
        };
        out.push(binding);
    }
    Ok(out)
}

/// Replaces every `{"$ref": ...}` with the value the deploy produced; the pointer of the first
/// one it cannot resolve is the error.
fn resolve(value: &mut Value, report: &DeployReport) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            if let (1, Some(Value::String(pointer))) = (map.len(), map.get("$ref")) {
                let pointer = pointer.clone();
                let resolved = Ref::parse_pointer(&pointer)
                    .ok()
                    .and_then(|r| lookup(&r, report))
                    .ok_or_else(|| pointer.clone())?;
                *value = Value::String(resolved);
                return Ok(());
            }
            map.values_mut().try_for_each(|v| resolve(v, report))
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| resolve(v, report)),
        _ => Ok(()),
    }
}

fn lookup(reference: &Ref, report: &DeployReport) -> Option<String> {
    match (reference.resource_type, reference.field.as_str()) {
        (ResourceType::TargetGroup, "targetGroupARN") => {
            report.target_group_arns.get(&reference.id).cloned()
        }
        (ResourceType::SecurityGroup, "groupID") => {
            report.security_group_ids.get(&reference.id).cloned()
        }
        (ResourceType::LoadBalancer, "dnsName") => report.dns_name.clone(),
        _ => None,
    }
}

/// Makes the API server hold `desired` (the bindings a stack calls for; those the cache
/// already shows as desired are not written) and deletes the bindings labelled `labels` (one
/// owner's: an IngressGroup or a Service) that `desired` no longer has. A failed write names its
/// binding.
pub async fn sync_bindings(
    ops: &dyn crate::kube_ops::KubeOps,
    cache: &crate::cache::Cache<TargetGroupBinding>,
    desired: &[TargetGroupBinding],
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<(), (crate::keys::ObjKey, crate::kube_ops::OpError)> {
    use crate::keys::ObjKey;
    let mut wanted = BTreeSet::new();
    for binding in desired {
        let Some(key) = ObjKey::of(binding) else {
            continue;
        };
        wanted.insert(key.clone());
        let unchanged = cache.get(&key).is_some_and(|current| {
            current.spec == binding.spec
                && binding.metadata.labels.iter().flatten().all(|(k, v)| {
                    current.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v)
                })
        });
        if unchanged {
            continue;
        }
        ops.apply_binding(binding).await.map_err(|e| (key, e))?;
    }
    let stale = cache.filter(|b| {
        let own = b.metadata.labels.as_ref();
        labels
            .iter()
            .all(|(k, v)| own.and_then(|l| l.get(k)) == Some(v))
    });
    for binding in stale {
        let Some(key) = ObjKey::of(binding.as_ref()) else {
            continue;
        };
        if wanted.contains(&key) || binding.metadata.deletion_timestamp.is_some() {
            continue;
        }
        ops.delete_binding(&key).await.map_err(|e| (key, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
