//! Reconcile one TargetGroupBinding: make the targets' security groups admit the traffic
//! `spec.networking` names, register the desired targets, deregister the rest, set the pods'
//! readiness-gate conditions from target health, record `observedGeneration`.
//!
//! Deleting a binding deregisters its targets (a target group that is already gone counts as
//! done), releases its security-group rules, flips its pods' gate conditions to True so
//! rollouts do not hang, then removes the finalizer `elbv2.k8s.aws/resources`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use contract::crd::{TargetGroupBinding, TargetType};
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::backends::{AssumeRole, BackendError, NOT_LEADER, TargetRegistrar};
use crate::cache::Cache;
use crate::endpoints::{self, Desired, EndpointError, SERVICE_NAME_LABEL, readiness_gate};
use crate::events::EventSpec;
use crate::keys::ObjKey;
use crate::kube_ops::{KubeOps, ObjectRefs, OpError};
use crate::metrics::ControllerMetrics;
use crate::networking::{
    NetworkEndpoint, NetworkTargets, NetworkingError, NetworkingManager, TargetMode,
};
use crate::registered::RegisteredTargets;
use crate::targets::{self, Target, TargetHealth, TargetState};

/// The finalizer of TargetGroupBindings.
pub const FINALIZER: &str = "elbv2.k8s.aws/resources";
/// The `controller` label of this reconciler's metrics.
pub const CONTROLLER: &str = "targetGroupBinding";
/// How soon a binding with pods still waiting for their gate is looked at again
/// (`--targetgroupbinding-requeue-duration`).
pub const READINESS_REQUEUE: Duration = Duration::from_secs(15);

/// What one reconcile did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindingOutcome {
    pub registered: usize,
    pub deregistered: usize,
    /// Look again after this long (pods still waiting for their gate).
    pub requeue_after: Option<Duration>,
}

/// Why a binding's reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    #[error("this replica is not the leader")]
    NotLeader,
    #[error("TargetGroupBinding {0} has no targetGroupARN")]
    NoArn(ObjKey),
    #[error("{0}")]
    Endpoints(#[from] EndpointError),
    #[error("{0}")]
    Aws(#[source] BackendError),
    #[error("{0}")]
    Networking(NetworkingError),
    #[error("{0}")]
    Kube(OpError),
}

impl BindingError {
    pub fn category(&self) -> &str {
        match self {
            Self::NotLeader => "not_leader",
            Self::NoArn(_) => "spec",
            Self::Endpoints(_) => "endpoints",
            Self::Aws(e) => e.category,
            Self::Networking(e) => e.category(),
            Self::Kube(_) => "kubernetes",
        }
    }
}

/// The role whose account holds the binding's target group (`iamRoleArnToAssume`).
fn assumed_role(binding: &TargetGroupBinding) -> Option<AssumeRole> {
    AssumeRole::of(
        binding.spec.iam_role_arn_to_assume.as_deref(),
        binding.spec.assume_role_external_id.as_deref(),
    )
}

/// The label the Ingress controller puts on the bindings it makes for its stacks.
const STACK_LABEL: &str = "ingress.k8s.aws/stack";

fn made_for_a_stack(binding: &TargetGroupBinding) -> bool {
    binding
        .metadata
        .labels
        .as_ref()
        .is_some_and(|labels| labels.contains_key(STACK_LABEL))
}

fn op(error: OpError) -> BindingError {
    match error {
        OpError::NotLeader => BindingError::NotLeader,
        other => BindingError::Kube(other),
    }
}

/// The caches and backends a binding reconcile uses.
#[derive(Clone)]
pub struct BindingReconciler {
    pub bindings: Cache<TargetGroupBinding>,
    pub services: Cache<Service>,
    pub slices: Cache<EndpointSlice>,
    pub pods: Cache<Pod>,
    pub nodes: Cache<Node>,
    pub registrar: Arc<dyn TargetRegistrar>,
    pub ops: Arc<dyn KubeOps>,
    pub metrics: ControllerMetrics,
    /// The security-group rules of `spec.networking`; `None` leaves them alone.
    pub networking: Option<NetworkingManager>,
    /// Each binding's registered targets as last described and changed since.
    pub registered: RegisteredTargets,
}

impl BindingReconciler {
    /// Reconciles the binding `key`; failures are also published as Warning events.
    pub async fn reconcile(&self, key: &ObjKey) -> Result<BindingOutcome, BindingError> {
        let Some(binding) = self.bindings.get(key) else {
            return Ok(BindingOutcome::default());
        };
        let result = self.run(key, &binding).await.map_err(|error| {
            // The AWS write gate refused a call: leadership was lost mid-reconcile.
            if error.category() == NOT_LEADER {
                BindingError::NotLeader
            } else {
                error
            }
        });
        match &result {
            Ok(_) => self.metrics.result(CONTROLLER, "success"),
            Err(BindingError::NotLeader) => {}
            Err(error) => {
                self.metrics.result(CONTROLLER, "error");
                self.metrics.error(CONTROLLER, error.category());
                let reason = if binding.metadata.deletion_timestamp.is_some() {
                    "FailedCleanup"
                } else if matches!(error, BindingError::Networking(_)) {
                    "FailedNetworkReconcile"
                } else {
                    "FailedReconcile"
                };
                let event = EventSpec::warning(reason, crate::backends::chain(error));
                let _ = self
                    .ops
                    .publish(&ObjectRefs::binding(&binding), &event)
                    .await;
            }
        }
        result
    }

    async fn run(
        &self,
        key: &ObjKey,
        binding: &TargetGroupBinding,
    ) -> Result<BindingOutcome, BindingError> {
        let arn = binding
            .spec
            .arn()
            .ok_or_else(|| BindingError::NoArn(key.clone()))?
            .to_owned();
        let object = ObjectRefs::binding(binding);
        if binding.metadata.deletion_timestamp.is_some() {
            if !object.finalizers.iter().any(|f| f == FINALIZER) {
                return Ok(BindingOutcome::default());
            }
            let outcome = self.cleanup(binding, &arn).await?;
            self.ops
                .remove_finalizer(&object, FINALIZER)
                .await
                .map_err(op)?;
            return Ok(outcome);
        }
        self.ops
            .add_finalizer(&object, FINALIZER)
            .await
            .map_err(op)?;

        let service_key = ObjKey::new(key.namespace.clone(), binding.spec.service_ref.name.clone());
        let Some(service) = self.services.get(&service_key) else {
            let note = format!("backend not found: service {service_key} not found");
            let _ = self
                .ops
                .publish(&object, &EventSpec::warning("BackendNotFound", note))
                .await;
            let outcome = self.cleanup(binding, &arn).await?;
            self.observe(binding).await?;
            return Ok(outcome);
        };
        let desired = self.desired(binding, &service)?;
        let role = assumed_role(binding);
        self.reconcile_networking(key, binding, &service, &desired)
            .await?;
        // A pod waiting for its readiness gate needs AWS's word on health; otherwise what the
        // group held at the last describe, plus the changes made since, is enough.
        let needs_health = desired.pods.iter().any(|p| p.gated);
        let remembered = if needs_health {
            None
        } else {
            self.registered.get(key, &arn)
        };
        let current = match remembered {
            Some(current) => current,
            None => match self
                .metrics
                .stage(
                    CONTROLLER,
                    "describe_targets",
                    self.registrar.describe(&arn, role.as_ref()),
                )
                .await
            {
                Ok(current) => {
                    self.registered.described(key, &arn, &current);
                    current
                }
                Err(error) => {
                    self.registered.forget(key);
                    return gone_or_failed(key, binding, error);
                }
            },
        };
        let mut diff = targets::diff(&desired.targets, &current);
        if binding.spec.multi_cluster_target_group {
            // Other clusters register into the same group: only touch targets known here.
            let ours = self.known_targets(binding);
            diff.deregister.retain(|t| ours.contains(&t.id));
        }
        let mut sent = Ok(());
        for batch in targets::batches(&diff.deregister) {
            sent = sent.and(self.registrar.deregister(&arn, role.as_ref(), batch).await);
            if sent.is_err() {
                break;
            }
        }
        if sent.is_ok() {
            for batch in targets::batches(&diff.register) {
                sent = sent.and(self.registrar.register(&arn, role.as_ref(), batch).await);
                if sent.is_err() {
                    break;
                }
            }
        }
        match sent {
            Ok(()) => self.registered.applied(key, &arn, &diff),
            Err(error) => {
                self.registered.forget(key);
                return gone_or_failed(key, binding, error);
            }
        }

        let mut health: BTreeMap<&Target, &TargetHealth> =
            current.iter().map(|h| (&h.target, h)).collect();
        let fresh: Vec<TargetHealth> = diff
            .register
            .iter()
            .map(|t| TargetHealth::new(t.clone(), TargetState::Initial))
            .collect();
        for h in &fresh {
            health.insert(&h.target, h);
        }
        let gate = readiness_gate(binding.metadata.name.as_deref().unwrap_or_default());
        let mut waiting = false;
        for pod_target in desired.pods.iter().filter(|p| p.gated) {
            let condition = gate_condition(&gate, health.get(&pod_target.target).copied());
            if condition.status != "True" {
                waiting = true;
            }
            let current = self.pods.get(&pod_target.pod);
            if current
                .as_deref()
                .is_some_and(|p| has_condition(p, &condition))
            {
                continue;
            }
            self.ops
                .set_pod_condition(&pod_target.pod, &condition)
                .await
                .map_err(op)?;
            if let Some(took) = current
                .as_deref()
                .and_then(|pod| time_to_ready(pod, &condition))
            {
                self.metrics.readiness_gate_ready(
                    binding.metadata.namespace.as_deref().unwrap_or_default(),
                    binding.metadata.name.as_deref().unwrap_or_default(),
                    took,
                );
            }
        }
        self.observe(binding).await?;
        Ok(BindingOutcome {
            registered: diff.register.len(),
            deregistered: diff.deregister.len(),
            requeue_after: waiting.then_some(READINESS_REQUEUE),
        })
    }

    fn desired(
        &self,
        binding: &TargetGroupBinding,
        service: &Service,
    ) -> Result<Desired, BindingError> {
        let namespace = service.metadata.namespace.clone().unwrap_or_default();
        let service_name = service.metadata.name.clone().unwrap_or_default();
        match binding.spec.target_type {
            Some(TargetType::Instance) => Ok(Desired {
                targets: endpoints::instance_targets(binding, service, &self.nodes.values())?,
                pods: Vec::new(),
            }),
            _ => {
                let slices = self.slices.filter(|s| {
                    s.metadata.namespace.as_deref() == Some(namespace.as_str())
                        && s.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get(SERVICE_NAME_LABEL))
                            .map(String::as_str)
                            == Some(service_name.as_str())
                });
                let pods = self.pods.clone();
                let nodes = self.nodes.clone();
                Ok(endpoints::ip_targets(
                    binding,
                    service,
                    &slices,
                    &|k| pods.get(k),
                    &|n| {
                        nodes
                            .get(&ObjKey::new("", n))
                            .is_some_and(|node| endpoints::node_is_ready(&node))
                    },
                )?)
            }
        }
    }

    /// Keys of the bindings whose rules the networking manager must know before it revokes.
    fn bindings_with_networking(&self) -> BTreeSet<ObjKey> {
        self.bindings
            .filter(|b| b.spec.networking.is_some())
            .iter()
            .filter_map(|b| ObjKey::of(b.as_ref()))
            .collect()
    }

    /// Makes the targets' security groups admit what `spec.networking` names (before the
    /// targets are registered).
    async fn reconcile_networking(
        &self,
        key: &ObjKey,
        binding: &TargetGroupBinding,
        service: &Service,
        desired: &Desired,
    ) -> Result<(), BindingError> {
        let Some(manager) = &self.networking else {
            return Ok(());
        };
        // Without `spec.networking` the binding wants no rules: an empty contribution releases
        // whatever it had, and its targets need not be worked out.
        let targets = if binding.spec.networking.is_some() {
            self.network_targets(binding, service, desired)
        } else {
            NetworkTargets {
                mode: if binding.spec.target_type == Some(TargetType::Instance) {
                    TargetMode::Instance
                } else {
                    TargetMode::Ip
                },
                endpoints: Vec::new(),
            }
        };
        let contribution = manager
            .contribution(binding.spec.networking.as_ref(), &targets)
            .await
            .map_err(BindingError::Networking)?;
        manager
            .reconcile(key, contribution, &self.bindings_with_networking())
            .await
            .map_err(BindingError::Networking)?;
        Ok(())
    }

    /// The targets as networking sees them: named ports of a pod are its containers' ports
    /// (when the cache kept them) and the Service's named `targetPort`, resolved by the
    /// EndpointSlice to the target's port.
    fn network_targets(
        &self,
        binding: &TargetGroupBinding,
        service: &Service,
        desired: &Desired,
    ) -> NetworkTargets {
        if binding.spec.target_type == Some(TargetType::Instance) {
            let nodes = self.nodes.values();
            let node_names: BTreeMap<&str, &str> = nodes
                .iter()
                .filter_map(|n| Some((endpoints::instance_id(n)?, n.metadata.name.as_deref()?)))
                .collect();
            return NetworkTargets {
                mode: TargetMode::Instance,
                endpoints: desired
                    .targets
                    .iter()
                    .map(|t| NetworkEndpoint {
                        id: t.id.clone(),
                        name: node_names
                            .get(t.id.as_str())
                            .map_or_else(|| t.id.clone(), |n| (*n).to_owned()),
                        named_ports: BTreeMap::new(),
                    })
                    .collect(),
            };
        }
        let target_port_name =
            endpoints::service_port(binding, service)
                .ok()
                .and_then(|p| match &p.target_port {
                    Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n)) => {
                        Some(n.clone())
                    }
                    _ => None,
                });
        let pods: BTreeMap<&Target, &ObjKey> =
            desired.pods.iter().map(|p| (&p.target, &p.pod)).collect();
        let endpoints = desired
            .targets
            .iter()
            .map(|t| {
                let pod = pods.get(t).copied();
                let cached = pod.and_then(|k| self.pods.get(k));
                let mut named_ports: BTreeMap<String, i32> = cached
                    .iter()
                    .filter_map(|p| p.spec.as_ref())
                    .flat_map(|s| &s.containers)
                    .flat_map(|c| c.ports.iter().flatten())
                    .filter_map(|p| Some((p.name.clone()?, p.container_port)))
                    .collect();
                if let Some(name) = &target_port_name {
                    named_ports.entry(name.clone()).or_insert(t.port);
                }
                NetworkEndpoint {
                    id: t.id.clone(),
                    name: pod.map_or_else(|| t.id.clone(), ToString::to_string),
                    named_ports,
                }
            })
            .collect();
        NetworkTargets {
            mode: TargetMode::Ip,
            endpoints,
        }
    }

    /// IDs of targets that belong to this cluster: pod IPs and node instance IDs.
    fn known_targets(&self, binding: &TargetGroupBinding) -> BTreeSet<String> {
        match binding.spec.target_type {
            Some(TargetType::Instance) => self
                .nodes
                .values()
                .iter()
                .filter_map(|n| endpoints::instance_id(n).map(str::to_owned))
                .collect(),
            _ => self
                .pods
                .values()
                .iter()
                .filter_map(|p| p.status.as_ref())
                .flat_map(|s| s.pod_ips.iter().flatten().map(|ip| ip.ip.clone()))
                .collect(),
        }
    }

    /// Deregisters every target of the binding (only known ones for multi-cluster groups).
    async fn cleanup(
        &self,
        binding: &TargetGroupBinding,
        arn: &str,
    ) -> Result<BindingOutcome, BindingError> {
        let role = assumed_role(binding);
        if let Some(key) = ObjKey::of(binding) {
            self.registered.forget(&key);
        }
        let current = match self.registrar.describe(arn, role.as_ref()).await {
            Ok(current) => current,
            Err(error) if error.is_not_found() => Vec::new(),
            Err(error) => return Err(BindingError::Aws(error)),
        };
        let mut extra = targets::diff(&BTreeSet::new(), &current).deregister;
        if binding.spec.multi_cluster_target_group {
            let ours = self.known_targets(binding);
            extra.retain(|t| ours.contains(&t.id));
        }
        for batch in targets::batches(&extra) {
            match self.registrar.deregister(arn, role.as_ref(), batch).await {
                Ok(()) => {}
                Err(error) if error.is_not_found() => break,
                Err(error) => return Err(BindingError::Aws(error)),
            }
        }
        if let (Some(manager), Some(key)) = (&self.networking, ObjKey::of(binding)) {
            manager
                .release(&key, &self.bindings_with_networking())
                .await
                .map_err(BindingError::Networking)?;
        }
        if binding.metadata.deletion_timestamp.is_some() {
            self.release_gates(binding).await?;
        }
        Ok(BindingOutcome {
            deregistered: extra.len(),
            ..BindingOutcome::default()
        })
    }

    /// On deletion, pods gated by this binding get their condition set True.
    async fn release_gates(&self, binding: &TargetGroupBinding) -> Result<(), BindingError> {
        let gate = readiness_gate(binding.metadata.name.as_deref().unwrap_or_default());
        let namespace = binding.metadata.namespace.clone().unwrap_or_default();
        let condition = PodCondition {
            type_: gate.clone(),
            status: "True".to_owned(),
            reason: Some("TargetGroupBindingDeleted".to_owned()),
            message: Some("Target Group Binding is deleted".to_owned()),
            last_transition_time: Some(now()),
            ..PodCondition::default()
        };
        let gated = self.pods.filter(|p| {
            p.metadata.namespace.as_deref() == Some(namespace.as_str())
                && p.spec
                    .as_ref()
                    .and_then(|s| s.readiness_gates.as_ref())
                    .is_some_and(|g| g.iter().any(|g| g.condition_type == gate))
        });
        for pod in gated {
            if has_condition(&pod, &condition) {
                continue;
            }
            if let Some(key) = ObjKey::of(pod.as_ref()) {
                self.ops
                    .set_pod_condition(&key, &condition)
                    .await
                    .map_err(op)?;
            }
        }
        Ok(())
    }

    async fn observe(&self, binding: &TargetGroupBinding) -> Result<(), BindingError> {
        let Some(generation) = binding.metadata.generation else {
            return Ok(());
        };
        let observed = binding.status.as_ref().and_then(|s| s.observed_generation);
        if observed == Some(generation) {
            return Ok(());
        }
        let key = ObjKey::of(binding).unwrap_or_else(|| ObjKey::new("", ""));
        self.ops
            .binding_observed(&key, generation)
            .await
            .map_err(op)
    }
}

/// A failed target-group call: no error when the Ingress controller made the binding and the
/// target group is gone (its stack is being torn down or rebuilt, and the binding goes next).
fn gone_or_failed(
    key: &ObjKey,
    binding: &TargetGroupBinding,
    error: BackendError,
) -> Result<BindingOutcome, BindingError> {
    if error.is_not_found() && made_for_a_stack(binding) {
        tracing::debug!(binding = %key, %error, "target group gone; its IngressGroup owns the binding");
        return Ok(BindingOutcome::default());
    }
    Err(BindingError::Aws(error))
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// The gate condition a target's health calls for: True only when healthy; False with AWS's
/// reason while registered but not healthy; Unknown when not registered.
pub fn gate_condition(gate: &str, health: Option<&TargetHealth>) -> PodCondition {
    let (status, reason, message) = match health {
        Some(h) if h.state == TargetState::Healthy => {
            ("True", Some("Elb.Healthy".to_owned()), None)
        }
        Some(h) => (
            "False",
            Some(
                h.reason
                    .clone()
                    .unwrap_or_else(|| format!("Elb.{}", h.state.as_str())),
            ),
            h.description.clone(),
        ),
        None => ("Unknown", Some("Elb.NotRegistered".to_owned()), None),
    };
    PodCondition {
        type_: gate.to_owned(),
        status: status.to_owned(),
        reason,
        message,
        last_transition_time: Some(now()),
        ..PodCondition::default()
    }
}

/// How long the gate took to turn True, when `condition` turns the pod's existing, not-True
/// condition of the same type True (upstream observes only these flips).
fn time_to_ready(pod: &Pod, condition: &PodCondition) -> Option<Duration> {
    if condition.status != "True" {
        return None;
    }
    let previous = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == condition.type_)?;
    if previous.status == "True" {
        return None;
    }
    let (from, to) = (
        previous.last_transition_time.as_ref()?,
        condition.last_transition_time.as_ref()?,
    );
    Duration::try_from(to.0.duration_since(from.0)).ok()
}

/// Whether the pod already has `condition` (same type, status and reason).
fn has_condition(pod: &Pod, condition: &PodCondition) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == condition.type_
                    && c.status == condition.status
                    && c.reason == condition.reason
            })
        })
}

#[cfg(test)]
mod tests;
