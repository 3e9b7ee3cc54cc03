//! The targets a TargetGroupBinding should have registered, from the cluster's caches (pure).
//!
//! * `ip` mode: the addresses of the Service's EndpointSlices for the bound port. A ready
//!   endpoint (or one whose readiness is unknown) is a target. So is an endpoint that is not
//!   ready only because it waits for this binding's readiness gate: not terminating, all its
//!   containers ready, its node Ready — otherwise the gate and the registration would wait on
//!   each other forever.
//! * `instance` mode: every Ready node that matches the default node selection and the
//!   binding's `nodeSelector`, on the Service port's NodePort.

use std::collections::BTreeSet;
use std::sync::Arc;

use contract::crd::{TargetGroupBinding, TargetGroupIpAddressType};
use k8s_openapi::api::core::v1::{Node, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::{Selector, SelectorExt as _};

use crate::keys::ObjKey;
use crate::targets::Target;

/// Prefix of the readiness gate (and pod condition) a binding controls.
pub const READINESS_GATE_PREFIX: &str = "target-health.elbv2.k8s.aws/";
/// The label EndpointSlices carry with their Service's name.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Labels that keep a node out of load balancers (upstream's default node selection).
const EXCLUDING_LABELS: [&str; 3] = [
    "node-role.kubernetes.io/master",
    "node.kubernetes.io/exclude-from-external-load-balancers",
    "alpha.service-controller.kubernetes.io/exclude-balancer",
];
/// Taints of nodes on their way out.
const LEAVING_TAINTS: [(&str, Option<&str>); 2] = [
    ("ToBeDeletedByClusterAutoscaler", None),
    ("karpenter.sh/disrupted", Some("NoSchedule")),
];

/// The readiness gate condition type of the binding `name`.
pub fn readiness_gate(name: &str) -> String {
    format!("{READINESS_GATE_PREFIX}{name}")
}

/// Why a binding's targets cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("service not found: {0}")]
    ServiceNotFound(ObjKey),
    #[error("unable to find port {port} on service {service}")]
    PortNotFound { service: ObjKey, port: String },
    #[error("service type must be either 'NodePort' or 'LoadBalancer': {0}")]
    ServiceType(ObjKey),
    #[error("service {service} port {port} has no nodePort")]
    NoNodePort { service: ObjKey, port: String },
    #[error("invalid nodeSelector of TargetGroupBinding {binding}: {reason}")]
    NodeSelector { binding: ObjKey, reason: String },
}

/// A pod behind an `ip` binding, and its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodTarget {
    pub pod: ObjKey,
    pub target: Target,
    /// Whether the pod carries this binding's readiness gate.
    pub gated: bool,
}

/// The desired targets, and (ip mode) the pods behind them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    pub targets: BTreeSet<Target>,
    pub pods: Vec<PodTarget>,
}

/// The Service port a binding names (by number or by name).
pub fn service_port<'a>(
    binding: &TargetGroupBinding,
    service: &'a Service,
) -> Result<&'a ServicePort, EndpointError> {
    let wanted = &binding.spec.service_ref.port;
    service
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .find(|p| match wanted {
            IntOrString::Int(n) => p.port == *n,
            IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
        })
        .ok_or_else(|| EndpointError::PortNotFound {
            service: key_of(service),
            port: port_text(wanted),
        })
}

fn port_text(port: &IntOrString) -> String {
    match port {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn key_of(service: &Service) -> ObjKey {
    ObjKey::of(service).unwrap_or_else(|| ObjKey::new("", ""))
}

/// `ip` mode targets. `pod` looks a pod up by key; `node_ready` says whether a node is Ready.
pub fn ip_targets(
    binding: &TargetGroupBinding,
    service: &Service,
    slices: &[Arc<EndpointSlice>],
    pod: &dyn Fn(&ObjKey) -> Option<Arc<Pod>>,
    node_ready: &dyn Fn(&str) -> bool,
) -> Result<Desired, EndpointError> {
    let port = service_port(binding, service)?;
    let gate = readiness_gate(binding.metadata.name.as_deref().unwrap_or_default());
    let family = match binding.spec.ip_address_type {
        Some(TargetGroupIpAddressType::Ipv6) => "IPv6",
        _ => "IPv4",
    };
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let mut desired = Desired::default();
    for slice in slices.iter().filter(|s| s.address_type == family) {
        let Some(slice_port) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| {
                p.name.as_deref().unwrap_or_default() == port.name.as_deref().unwrap_or_default()
            })
            .and_then(|p| p.port)
        else {
            continue;
        };
        for endpoint in slice.endpoints.iter().flatten() {
            let conditions = endpoint.conditions.as_ref();
            let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
            let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
            let pod_key = endpoint
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| r.name.clone())
                .map(|name| ObjKey::new(namespace.clone(), name));
            let pod_obj = pod_key.as_ref().and_then(pod);
            let gated = pod_obj.as_deref().is_some_and(|p| has_gate(p, &gate));
            let include = ready
                || (!terminating
                    && gated
                    && pod_obj.as_deref().is_some_and(|p| {
                        containers_ready(p)
                            && p.spec
                                .as_ref()
                                .and_then(|s| s.node_name.as_deref())
                                .is_some_and(node_ready)
                    }));
            if !include {
                continue;
            }
            for address in &endpoint.addresses {
                let target = Target::new(address.clone(), slice_port);
                if let Some(pod) = &pod_key {
                    desired.pods.push(PodTarget {
                        pod: pod.clone(),
                        target: target.clone(),
                        gated,
                    });
                }
                desired.targets.insert(target);
            }
        }
    }
    Ok(desired)
}

fn has_gate(pod: &Pod, gate: &str) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .is_some_and(|gates| gates.iter().any(|g| g.condition_type == gate))
}

fn containers_ready(pod: &Pod) -> bool {
    condition_true(pod, "ContainersReady")
}

/// Whether the pod's condition `type_` is True.
pub fn condition_true(pod: &Pod, type_: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

/// Whether a node's Ready condition is True.
pub fn node_is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The EC2 instance ID in a node's `spec.providerID` (`aws:///<zone>/i-...`).
pub fn instance_id(node: &Node) -> Option<&str> {
    let provider = node.spec.as_ref()?.provider_id.as_deref()?;
    let id = provider.rsplit('/').next()?;
    id.starts_with("i-").then_some(id)
}

/// `instance` mode targets: eligible nodes on the NodePort.
pub fn instance_targets(
    binding: &TargetGroupBinding,
    service: &Service,
    nodes: &[Arc<Node>],
) -> Result<BTreeSet<Target>, EndpointError> {
    let kind = service
        .spec
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("ClusterIP");
    if kind != "NodePort" && kind != "LoadBalancer" {
        return Err(EndpointError::ServiceType(key_of(service)));
    }
    let port = service_port(binding, service)?;
    let node_port = port.node_port.ok_or_else(|| EndpointError::NoNodePort {
        service: key_of(service),
        port: port_text(&binding.spec.service_ref.port),
    })?;
    let selector =
        match &binding.spec.node_selector {
            Some(selector) => Some(Selector::try_from(selector.clone()).map_err(|e| {
                EndpointError::NodeSelector {
                    binding: ObjKey::of(binding).unwrap_or_else(|| ObjKey::new("", "")),
                    reason: e.to_string(),
                }
            })?),
            None => None,
        };
    let eligible: Vec<&Arc<Node>> = nodes
        .iter()
        .filter(|n| node_eligible(n, selector.as_ref()))
        .collect();
    let targets = |ready: &dyn Fn(&Node) -> bool| -> BTreeSet<Target> {
        eligible
            .iter()
            .filter(|n| ready(n))
            .filter_map(|n| instance_id(n))
            .map(|id| Target::new(id, node_port))
            .collect()
    };
    let ready = targets(&node_is_ready);
    if !ready.is_empty() {
        return Ok(ready);
    }
    // Fail open: with no Ready node, nodes whose state is Unknown (the node controller lost
    // touch with their kubelet) keep the traffic rather than emptying the target group.
    Ok(targets(&node_state_unknown))
}

/// Whether a node's `Ready` condition is `Unknown`.
pub fn node_state_unknown(node: &Node) -> bool {
    node_ready_status(node) == Some("Unknown")
}

/// The status of a node's `Ready` condition (`True`, `False`, `Unknown`), if it has one.
pub fn node_ready_status(node: &Node) -> Option<&str> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str())
}

/// Whether a node may take traffic for a binding with `selector`, its readiness aside.
pub fn node_eligible(node: &Node, selector: Option<&Selector>) -> bool {
    let empty = std::collections::BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    if EXCLUDING_LABELS.iter().any(|l| labels.contains_key(*l))
        || labels
            .get("eks.amazonaws.com/compute-type")
            .map(String::as_str)
            == Some("fargate")
    {
        return false;
    }
    if selector.is_some_and(|s| !s.matches(labels)) {
        return false;
    }
    // A cordoned (unschedulable) node still proxies traffic to its NodePort, as upstream has
    // it: cordoning is not draining.
    let spec = node.spec.as_ref();
    let leaving = spec.and_then(|s| s.taints.as_ref()).is_some_and(|taints| {
        taints.iter().any(|t| {
            LEAVING_TAINTS
                .iter()
                .any(|(key, effect)| t.key == *key && effect.is_none_or(|e| t.effect == e))
        })
    });
    !leaving
}

#[cfg(test)]
pub(crate) mod tests;
