//! Reconcile one Service of type LoadBalancer into its NLB, in upstream's order.
//!
//! A Service that is ours ([`Selection::is_supported`]):
//! 1. build the stack (`FailedBuildModel`);
//! 2. add the finalizer `service.k8s.aws/resources` — before any AWS resource exists
//!    (`FailedAddFinalizer`);
//! 3. deploy it, then apply its TargetGroupBindings and delete its stale ones
//!    (`FailedDeployModel`);
//! 4. write `status.loadBalancer` when it differs (`FailedUpdateStatus`);
//! 5. `SuccessfullyReconciled`.
//!
//! A Service that carries the finalizer but is no longer ours (deleted, class or annotations
//! changed): the builder's empty stack (or its deletion-protection refusal) is deployed, which
//! deletes the NLB and everything it owns; its bindings are deleted, its status cleared, and
//! the finalizer removed. A Service that is neither is left alone.

use std::sync::Arc;

use contract::crd::TargetGroupBinding;
use contract::service::{FINALIZER, Selection};
use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, PortStatus, Service};

use crate::backends::{BackendError, DeployReport, NOT_LEADER, ServiceStackBuilder, StackDeployer};
use crate::cache::Cache;
use crate::events::EventSpec;
use crate::events::reason;
use crate::keys::ObjKey;
use crate::kube_ops::{KubeOps, ObjectRefs, OpError};
use crate::metrics::ControllerMetrics;
use crate::synth::{self, SynthError};
use model::stack::Stack;
use model::tags::service_binding_labels;

/// The `controller` label of this reconciler's metrics (upstream's).
pub const CONTROLLER: &str = "service";

/// What a successful reconcile did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// The NLB exists; its DNS name.
    Deployed { dns_name: Option<String> },
    /// The Service left us: its resources were deleted and the finalizer removed.
    Deleted,
    /// Neither ours nor carrying our finalizer (or gone): nothing to do.
    Idle,
}

/// Why a Service's reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("this replica is not the leader")]
    NotLeader,
    #[error("Failed build model due to {0}")]
    Build(#[source] BackendError),
    #[error("Failed add finalizer due to {0}")]
    AddFinalizer(#[source] OpError),
    #[error("Failed deploy model due to {0}")]
    Deploy(#[source] BackendError),
    #[error("Failed deploy model due to {0}")]
    Bindings(#[source] SynthError),
    #[error("Failed deploy model due to TargetGroupBinding {binding}: {source}")]
    BindingWrite { binding: ObjKey, source: OpError },
    #[error("Failed update status due to {0}")]
    Status(#[source] OpError),
    #[error("Failed update status due to {0}")]
    CleanupStatus(#[source] OpError),
    #[error("Failed remove finalizer due to {0}")]
    RemoveFinalizer(#[source] OpError),
}

impl ServiceError {
    /// The Warning event's reason; `None` when no event is due (not the leader).
    pub fn reason(&self) -> Option<&'static str> {
        Some(match self {
            Self::NotLeader => return None,
            Self::Build(_) => reason::FAILED_BUILD_MODEL,
            Self::AddFinalizer(_) => reason::FAILED_ADD_FINALIZER,
            Self::Deploy(_) | Self::Bindings(_) | Self::BindingWrite { .. } => {
                reason::FAILED_DEPLOY_MODEL
            }
            Self::Status(_) => reason::FAILED_UPDATE_STATUS,
            Self::CleanupStatus(_) => "FailedCleanupStatus",
            Self::RemoveFinalizer(_) => reason::FAILED_REMOVE_FINALIZER,
        })
    }

    /// The `error_category` metric label.
    pub fn category(&self) -> &str {
        match self {
            Self::NotLeader => NOT_LEADER,
            Self::Build(error) | Self::Deploy(error) => error.category,
            Self::AddFinalizer(_) => "add_finalizer",
            Self::Bindings(_) | Self::BindingWrite { .. } => "target_group_binding",
            Self::Status(_) | Self::CleanupStatus(_) => "update_status",
            Self::RemoveFinalizer(_) => "remove_finalizer",
        }
    }

    fn from_op(op: OpError, wrap: impl FnOnce(OpError) -> Self) -> Self {
        match op {
            OpError::NotLeader => Self::NotLeader,
            other => wrap(other),
        }
    }
}

/// Everything a Service reconcile reads and drives.
#[derive(Clone)]
pub struct ServiceReconciler {
    pub services: Cache<Service>,
    pub bindings: Cache<TargetGroupBinding>,
    pub builder: Arc<dyn ServiceStackBuilder>,
    pub deployer: Arc<dyn StackDeployer>,
    pub ops: Arc<dyn KubeOps>,
    pub metrics: ControllerMetrics,
    pub selection: Selection,
    /// Run after a Service's resources are deleted: releases the backend security group when
    /// nothing uses it any more (as after a group deletion). `None` does nothing.
    pub after_cleanup: Option<CleanupHook>,
}

/// What runs after a Service's NLB is deleted, with the Service's key.
pub type CleanupHook = Arc<dyn Fn(ObjKey) -> crate::backends::BoxFuture<'static, ()> + Send + Sync>;

/// Whether a Service is this controller's business: ours, or carrying our finalizer.
pub fn is_relevant(selection: &Selection, service: &Service) -> bool {
    selection.is_supported(service) || has_finalizer(service)
}

fn has_finalizer(service: &Service) -> bool {
    service
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == FINALIZER)
}

/// The status a Service with this NLB shows: one hostname (lower-case) with every Service port.
pub fn desired_status(dns_name: &str, service: &Service) -> LoadBalancerStatus {
    let ports: Vec<PortStatus> = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| PortStatus {
            port: p.port,
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
            error: None,
        })
        .collect();
    LoadBalancerStatus {
        ingress: Some(vec![LoadBalancerIngress {
            hostname: Some(dns_name.to_ascii_lowercase()),
            ports: (!ports.is_empty()).then_some(ports),
            ..LoadBalancerIngress::default()
        }]),
    }
}

/// Whether the Service already shows `desired` (one entry, no IP, the same hostname and port
/// numbers), as upstream compares.
pub fn status_matches(service: &Service, desired: &LoadBalancerStatus) -> bool {
    let current = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or(&[]);
    let want = desired.ingress.as_deref().unwrap_or(&[]);
    let ports = |i: &LoadBalancerIngress| -> Vec<i32> {
        i.ports.iter().flatten().map(|p| p.port).collect()
    };
    match (current, want) {
        ([have], [want]) => {
            have.ip.is_none() && have.hostname == want.hostname && ports(have) == ports(want)
        }
        _ => false,
    }
}

impl ServiceReconciler {
    /// Reconciles the Service `key` and publishes the outcome as an event on it.
    pub async fn reconcile(&self, key: &ObjKey) -> Result<ServiceOutcome, ServiceError> {
        let Some(service) = self.services.get(key) else {
            return Ok(ServiceOutcome::Idle);
        };
        let supported = self.selection.is_supported(&service);
        if !supported && !has_finalizer(&service) {
            return Ok(ServiceOutcome::Idle);
        }
        let result = if supported {
            self.deploy(&service).await
        } else {
            self.cleanup(&service).await
        };
        if matches!(result, Ok(ServiceOutcome::Deleted))
            && let Some(hook) = &self.after_cleanup
        {
            hook(key.clone()).await;
        }
        let result = result.map_err(|error| {
            if error.category() == NOT_LEADER {
                ServiceError::NotLeader
            } else {
                error
            }
        });
        let object = ObjectRefs::service(&service);
        match &result {
            Ok(ServiceOutcome::Deployed { .. }) => {
                self.metrics.result(CONTROLLER, "success");
                let event =
                    EventSpec::normal(reason::SUCCESSFULLY_RECONCILED, "Successfully reconciled");
                self.publish(&object, &event).await;
            }
            Ok(_) => self.metrics.result(CONTROLLER, "success"),
            Err(ServiceError::NotLeader) => {}
            Err(error) => {
                self.metrics.result(CONTROLLER, "error");
                self.metrics.error(CONTROLLER, error.category());
                if let Some(reason) = error.reason() {
                    let event = EventSpec::warning(reason, crate::backends::chain(error));
                    self.publish(&object, &event).await;
                }
            }
        }
        result
    }

    async fn publish(&self, object: &ObjectRefs, event: &EventSpec) {
        if let Err(error) = self.ops.publish(object, event).await {
            tracing::debug!(object = %object.key, reason = event.reason, %error, "event not published");
        }
    }

    async fn deploy(&self, service: &Service) -> Result<ServiceOutcome, ServiceError> {
        let metrics = &self.metrics;
        let stack = metrics
            .stage(
                CONTROLLER,
                "build_model",
                self.builder.build_service(service),
            )
            .await
            .map_err(ServiceError::Build)?;
        let object = ObjectRefs::service(service);
        metrics
            .stage(
                CONTROLLER,
                "add_finalizer",
                self.ops.add_finalizer(&object, FINALIZER),
            )
            .await
            .map_err(|e| ServiceError::from_op(e, ServiceError::AddFinalizer))?;
        let report = metrics
            .stage(CONTROLLER, "deploy_model", self.deployer.deploy(&stack))
            .await
            .map_err(ServiceError::Deploy)?;
        metrics
            .stage(
                CONTROLLER,
                "deploy_target_group_bindings",
                self.sync_bindings(service, &stack, &report),
            )
            .await?;
        if let Some(dns_name) = &report.dns_name {
            let desired = desired_status(dns_name, service);
            if !status_matches(service, &desired) {
                metrics
                    .stage(
                        CONTROLLER,
                        "update_status",
                        self.ops.patch_service_status(&object.key, Some(&desired)),
                    )
                    .await
                    .map_err(|e| ServiceError::from_op(e, ServiceError::Status))?;
            }
        }
        Ok(ServiceOutcome::Deployed {
            dns_name: report.dns_name,
        })
    }

    async fn cleanup(&self, service: &Service) -> Result<ServiceOutcome, ServiceError> {
        let metrics = &self.metrics;
        // The builder refuses when deletion protection is on (nothing is deleted then).
        let stack = metrics
            .stage(
                CONTROLLER,
                "build_model",
                self.builder.build_service(service),
            )
            .await
            .map_err(ServiceError::Build)?;
        let empty = Stack::for_service(stack.id.clone());
        let report = metrics
            .stage(CONTROLLER, "deploy_model", self.deployer.deploy(&empty))
            .await
            .map_err(ServiceError::Deploy)?;
        self.sync_bindings(service, &empty, &report).await?;
        let object = ObjectRefs::service(service);
        let has_status = service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .is_some_and(|i| !i.is_empty());
        if has_status {
            self.ops
                .patch_service_status(&object.key, None)
                .await
                .map_err(|e| ServiceError::from_op(e, ServiceError::CleanupStatus))?;
        }
        self.ops
            .remove_finalizer(&object, FINALIZER)
            .await
            .map_err(|e| ServiceError::from_op(e, ServiceError::RemoveFinalizer))?;
        Ok(ServiceOutcome::Deleted)
    }

    /// Applies the stack's bindings (those not already as desired) and deletes this
    /// Service's bindings the stack no longer has.
    async fn sync_bindings(
        &self,
        service: &Service,
        stack: &Stack,
        report: &DeployReport,
    ) -> Result<(), ServiceError> {
        let desired = synth::desired_bindings(stack, report).map_err(ServiceError::Bindings)?;
        let labels = service_binding_labels(
            service.metadata.namespace.as_deref().unwrap_or_default(),
            service.metadata.name.as_deref().unwrap_or_default(),
        );
        synth::sync_bindings(self.ops.as_ref(), &self.bindings, &desired, &labels)
            .await
            .map_err(|(binding, e)| {
                ServiceError::from_op(e, |source| ServiceError::BindingWrite { binding, source })
            })
    }
}

#[cfg(test)]
mod tests;
