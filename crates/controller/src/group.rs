//! Reconcile one IngressGroup, in upstream's order:
//!
//! 1. load the members from the [`GroupIndex`];
//! 2. add the group finalizer to every active member — before any AWS resource exists;
//! 3. build the stack; 4. deploy it (an empty stack deletes everything the group owns);
//! 5. apply the stack's TargetGroupBindings and delete the group's stale ones;
//! 6. write `status.loadBalancer` of the active members whose status differs;
//! 7. remove the finalizer from members that left (only now that their resources are gone);
//! 8. publish `SuccessfullyReconciled`, or a Warning with the failing stage's reason and the
//!    error on every member;
//! 9. after a deletion that left no group with an active member, release the cluster's backend
//!    security group (see [`crate::backend_sg`]). A group still in use is kept; a
//!    failed release is logged, does not fail the reconcile, and is tried again at the next
//!    resync or after the next group deletion.

use std::sync::{Arc, PoisonError, RwLock};

use contract::crd::TargetGroupBinding;
use k8s_openapi::api::core::v1::{Secret, Service};

use crate::backend_sg::{BackendSecurityGroup, Released};
use crate::backends::{BackendError, BuildRequest, NOT_LEADER, StackBuilder, StackDeployer};
use crate::cache::Cache;
use crate::events::EventSpec;
use crate::index::{GroupIndex, GroupMembers, LoadError};
use crate::keys::ObjKey;
use crate::kube_ops::{KubeOps, ObjectRefs, OpError};
use crate::metrics::ControllerMetrics;
use crate::synth::{self, SynthError};
use model::builder::ObjectMap;
use model::group::GroupId;
use model::tags::target_group_binding_labels;

/// The `controller` label of this reconciler's metrics.
pub const CONTROLLER: &str = "ingress";

pub use crate::events::reason;

/// What a successful reconcile did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The stack exists; its load balancer's DNS name.
    Deployed { dns_name: Option<String> },
    /// The group had no active member left: its resources were deleted.
    Deleted,
    /// No Ingress refers to the group any more: nothing to do.
    Idle,
}

/// Why a group's reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("this replica is not the leader")]
    NotLeader,
    #[error("Failed load groupID due to {0}")]
    Load(LoadError),
    #[error("Failed add finalizer due to Ingress {ingress}: {source}")]
    AddFinalizer { ingress: ObjKey, source: OpError },
    #[error("Failed build model due to {0}")]
    Build(#[source] BackendError),
    #[error("Failed deploy model due to {0}")]
    Deploy(#[source] BackendError),
    #[error("Failed deploy model due to {0}")]
    Bindings(SynthError),
    #[error("Failed deploy model due to TargetGroupBinding {binding}: {source}")]
    BindingWrite { binding: ObjKey, source: OpError },
    #[error("Failed update status due to Ingress {ingress}: {source}")]
    Status { ingress: ObjKey, source: OpError },
    #[error("Failed remove finalizer due to Ingress {ingress}: {source}")]
    RemoveFinalizer { ingress: ObjKey, source: OpError },
}

impl ReconcileError {
    /// The Warning event's reason; `None` when no event is due (not the leader).
    pub fn reason(&self) -> Option<&'static str> {
        Some(match self {
            Self::NotLeader => return None,
            Self::Load(_) => reason::FAILED_LOAD_GROUP_ID,
            Self::AddFinalizer { .. } => reason::FAILED_ADD_FINALIZER,
            Self::Build(_) => reason::FAILED_BUILD_MODEL,
            Self::Deploy(_) | Self::Bindings(_) | Self::BindingWrite { .. } => {
                reason::FAILED_DEPLOY_MODEL
            }
            Self::Status { .. } => reason::FAILED_UPDATE_STATUS,
            Self::RemoveFinalizer { .. } => reason::FAILED_REMOVE_FINALIZER,
        })
    }

    /// The `error_category` metric label.
    pub fn category(&self) -> &str {
        match self {
            Self::NotLeader => "not_leader",
            Self::Load(error) => error.error.category(),
            Self::AddFinalizer { .. } => "add_finalizer",
            Self::Build(error) | Self::Deploy(error) => error.category,
            Self::Bindings(_) | Self::BindingWrite { .. } => "target_group_binding",
            Self::Status { .. } => "update_status",
            Self::RemoveFinalizer { .. } => "remove_finalizer",
        }
    }

    fn from_op(op: OpError, wrap: impl FnOnce(OpError) -> Self) -> Self {
        match op {
            OpError::NotLeader => Self::NotLeader,
            other => wrap(other),
        }
    }
}

/// Everything a group reconcile reads and drives.
#[derive(Clone)]
pub struct GroupReconciler {
    pub index: Arc<RwLock<GroupIndex>>,
    pub services: Cache<Service>,
    pub bindings: Cache<TargetGroupBinding>,
    pub builder: Arc<dyn StackBuilder>,
    pub deployer: Arc<dyn StackDeployer>,
    pub ops: Arc<dyn KubeOps>,
    pub metrics: ControllerMetrics,
    /// The backend security group to release when the last group is deleted; `None` leaves
    /// it alone (tests, a disabled feature).
    pub backend_security_group: Option<BackendSecurityGroup>,
    /// Which Services are NLBs (`None`: the Service controller is off). Their NLBs may use the
    /// backend security group too, so it is kept while one of them exists.
    pub service_selection: Option<contract::service::Selection>,
}

impl GroupReconciler {
    /// Reconciles `group` and publishes the outcome as events on its members.
    pub async fn reconcile(&self, group: &GroupId) -> Result<Outcome, ReconcileError> {
        let loaded = self
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .load(group);
        let members = match loaded {
            Ok(members) => members,
            Err(error) => {
                let culprit = self
                    .index
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(&error.ingress)
                    .map(|e| ObjectRefs::ingress(&e.ingress));
                let error = ReconcileError::Load(error);
                self.metrics.error(CONTROLLER, error.category());
                if let Some(culprit) = culprit {
                    self.publish(&culprit, &warning(&error)).await;
                }
                return Err(error);
            }
        };
        if members.active.is_empty() && members.inactive.is_empty() {
            return Ok(Outcome::Idle);
        }
        let result = self.run(&members).await.map_err(|error| {
            // The AWS write gate refused a call: leadership was lost mid-reconcile.
            if error.category() == NOT_LEADER {
                ReconcileError::NotLeader
            } else {
                error
            }
        });
        match &result {
            Ok(Outcome::Deployed { .. }) => {
                self.metrics.result(CONTROLLER, "success");
                let event =
                    EventSpec::normal(reason::SUCCESSFULLY_RECONCILED, "Successfully reconciled");
                for member in &members.active {
                    self.publish(&ObjectRefs::ingress(&member.ingress), &event)
                        .await;
                }
            }
            Ok(_) => self.metrics.result(CONTROLLER, "success"),
            Err(ReconcileError::NotLeader) => {}
            Err(error) => {
                self.metrics.result(CONTROLLER, "error");
                self.metrics.error(CONTROLLER, error.category());
                if error.reason().is_some() {
                    let event = warning(error);
                    // Members being deleted see why they are stuck when no active one is left.
                    let targets: Vec<_> = if members.active.is_empty() {
                        members.inactive.iter().collect()
                    } else {
                        members.active.iter().map(|m| &m.ingress).collect()
                    };
                    for ingress in targets {
                        self.publish(&ObjectRefs::ingress(ingress), &event).await;
                    }
                }
            }
        }
        if matches!(result, Ok(Outcome::Deleted)) {
            self.release_backend_security_group().await;
        }
        result
    }

    /// Releases the backend security group when no group has an active member and no Service is
    /// an NLB (or still being cleaned up) any more. A group whose members cannot be loaded
    /// counts as active (it may still use it). Called after each group deletion and at every
    /// resync.
    pub async fn release_backend_security_group(&self) {
        self.release_backend_security_group_after(None).await;
    }

    /// [`Self::release_backend_security_group`] right after the Service `cleaned` lost its NLB
    /// and finalizer (the cache may not show that yet).
    pub async fn release_backend_security_group_after(&self, cleaned: Option<&ObjKey>) {
        let Some(provider) = &self.backend_security_group else {
            return;
        };
        let in_use = {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            index.groups().iter().any(|group| {
                index
                    .load(group)
                    .map_or(true, |members| !members.active.is_empty())
            })
        } || self.service_selection.as_ref().is_some_and(|selection| {
            self.services
                .filter(|s| crate::service::is_relevant(selection, s))
                .iter()
                .any(|s| ObjKey::of(s.as_ref()).as_ref() != cleaned)
        });
        if in_use {
            return;
        }
        match provider.release().await {
            Ok(Released::Deleted(id)) => {
                tracing::info!(%id, "deleted the backend security group: no group uses it");
            }
            Ok(Released::InUse { id, reason }) => {
                tracing::info!(%id, %reason, "backend security group still in use; kept");
            }
            Ok(Released::NotPresent | Released::UserGiven(_)) => {}
            Err(error) if error.category == NOT_LEADER => {}
            Err(error) => {
                tracing::warn!(%error, "cannot release the backend security group; trying again after the next group deletion or resync");
            }
        }
    }

    async fn publish(&self, object: &ObjectRefs, event: &EventSpec) {
        if let Err(error) = self.ops.publish(object, event).await {
            tracing::debug!(object = %object.key, reason = event.reason, %error, "event not published");
        }
    }

    async fn run(&self, members: &GroupMembers) -> Result<Outcome, ReconcileError> {
        let group = &members.id;
        let finalizer = group.finalizer();
        let metrics = &self.metrics;

        metrics
            .stage(CONTROLLER, "add_group_finalizer", async {
                for member in &members.active {
                    let object = ObjectRefs::ingress(&member.ingress);
                    self.ops
                        .add_finalizer(&object, &finalizer)
                        .await
                        .map_err(|e| {
                            ReconcileError::from_op(e, |source| ReconcileError::AddFinalizer {
                                ingress: object.key.clone(),
                                source,
                            })
                        })?;
                }
                Ok(())
            })
            .await?;

        let services: ObjectMap<Service> = members
            .services
            .iter()
            .filter_map(|key| self.services.get(key))
            .map(|svc| {
                (
                    key_pair(
                        svc.metadata.namespace.as_deref(),
                        svc.metadata.name.as_deref(),
                    ),
                    (*svc).clone(),
                )
            })
            .collect();
        let mut secrets: ObjectMap<Secret> = ObjectMap::new();
        for key in &members.secrets {
            match self.ops.get_secret(key).await {
                Ok(Some(secret)) => {
                    secrets.insert((key.namespace.clone(), key.name.clone()), secret);
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(ReconcileError::Build(BackendError::new(
                        "secret",
                        format!("cannot read Secret {key}: {error}"),
                    )));
                }
            }
        }

        let request = BuildRequest {
            members,
            services: &services,
            secrets: &secrets,
        };
        let stack = metrics
            .stage(CONTROLLER, "build_model", self.builder.build(request))
            .await
            .map_err(ReconcileError::Build)?;
        tracing::debug!(group = %group, resources = ?stack.ids(model::stack::ResourceType::ListenerRule).len(), "built model");

        let report = metrics
            .stage(CONTROLLER, "deploy_model", self.deployer.deploy(&stack))
            .await
            .map_err(ReconcileError::Deploy)?;

        metrics
            .stage(
                CONTROLLER,
                "deploy_target_group_bindings",
                self.sync_bindings(group, &stack, &report),
            )
            .await?;

        if let Some(dns_name) = &report.dns_name {
            let desired = synth::desired_status_with_frontend(
                dns_name,
                report.frontend_dns_name.as_deref(),
                &stack,
            );
            metrics
                .stage(CONTROLLER, "dns_resolve_and_update_status", async {
                    for member in &members.active {
                        if synth::status_matches(member.ingress.status.as_ref(), &desired) {
                            continue;
                        }
                        self.ops
                            .apply_ingress_status(&member.ingress, &desired)
                            .await
                            .map_err(|e| {
                                ReconcileError::from_op(e, |source| ReconcileError::Status {
                                    ingress: ObjectRefs::ingress(&member.ingress).key,
                                    source,
                                })
                            })?;
                    }
                    Ok(())
                })
                .await?;
        }

        for ingress in &members.inactive {
            let object = ObjectRefs::ingress(ingress);
            self.ops
                .remove_finalizer(&object, &finalizer)
                .await
                .map_err(|e| {
                    ReconcileError::from_op(e, |source| ReconcileError::RemoveFinalizer {
                        ingress: object.key.clone(),
                        source,
                    })
                })?;
        }

        Ok(if stack.is_empty() {
            Outcome::Deleted
        } else {
            Outcome::Deployed {
                dns_name: report.dns_name,
            }
        })
    }

    /// Applies the stack's bindings (those not already as desired) and deletes the group's
    /// bindings the stack no longer has.
    async fn sync_bindings(
        &self,
        group: &GroupId,
        stack: &model::stack::Stack,
        report: &crate::backends::DeployReport,
    ) -> Result<(), ReconcileError> {
        let desired = synth::desired_bindings(stack, report).map_err(ReconcileError::Bindings)?;
        synth::sync_bindings(
            self.ops.as_ref(),
            &self.bindings,
            &desired,
            &target_group_binding_labels(group),
        )
        .await
        .map_err(|(binding, e)| {
            ReconcileError::from_op(e, |source| ReconcileError::BindingWrite { binding, source })
        })
    }
}

fn key_pair(namespace: Option<&str>, name: Option<&str>) -> (String, String) {
    (
        namespace.unwrap_or_default().to_owned(),
        name.unwrap_or_default().to_owned(),
    )
}

fn warning(error: &ReconcileError) -> EventSpec {
    EventSpec::warning(
        error.reason().unwrap_or(reason::FAILED_DEPLOY_MODEL),
        crate::backends::chain(error),
    )
}

#[cfg(test)]
mod tests;
