//! What the reconcilers drive, behind traits: the model builder, the AWS stack deployer and
//! the target registrar. The live process plugs in the real implementations; tests and
//! benchmarks use [`crate::controller::fakes`].

pub use crate::deploy::assumed_roles::AssumeRole;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use k8s_openapi::api::core::v1::{Secret, Service};

use crate::controller::index::GroupMembers;
use crate::controller::targets::{Target, TargetHealth};
use model::builder::ObjectMap;
use model::stack::Stack;

/// A boxed, sendable future (the traits are used as `Arc<dyn ...>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A failure of a backend, reduced to what events and metrics need.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    /// Stable, low-cardinality category (metric label).
    pub category: &'static str,
    pub message: String,
}

/// The category of a backend error for something that does not exist (e.g. a target group
/// deleted in AWS); the deployer's `ErrorCategory::NotFound` spells it the same.
pub const NOT_FOUND: &str = "not_found";
/// The category of a backend error for a mutating AWS call refused because this replica is not
/// the leader (the deployer's `ErrorCategory::NotLeader`).
pub const NOT_LEADER: &str = "not_leader";

impl BackendError {
    pub fn new(category: &'static str, message: impl Into<String>) -> Self {
        Self {
            category,
            message: message.into(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.category == NOT_FOUND
    }
}

/// The inputs of one group's build.
#[derive(Clone, Copy, Debug)]
pub struct BuildRequest<'a> {
    pub members: &'a GroupMembers,
    /// The Services the active members reference that exist.
    pub services: &'a ObjectMap<Service>,
    /// The Secrets the active members reference that exist.
    pub secrets: &'a ObjectMap<Secret>,
}

/// Builds the desired stack of one group. A group without active members must yield an empty
/// stack (its resources are then deleted).
pub trait StackBuilder: Send + Sync {
    fn build<'a>(&'a self, request: BuildRequest<'a>)
    -> BoxFuture<'a, Result<Stack, BackendError>>;
}

/// What a deploy produced: what the status and the TargetGroupBindings need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeployReport {
    /// The load balancer's DNS name; `None` for an empty stack.
    pub dns_name: Option<String>,
    /// Target group ARNs by stack resource ID.
    pub target_group_arns: BTreeMap<String, String>,
    /// Security group IDs by stack resource ID (bindings' networking may reference them).
    pub security_group_ids: BTreeMap<String, String>,
}

/// Makes AWS match a stack: creates, updates and deletes the resources tagged with the stack's
/// ID. Deploying an empty stack deletes everything the stack owns.
pub trait StackDeployer: Send + Sync {
    fn deploy<'a>(&'a self, stack: &'a Stack) -> BoxFuture<'a, Result<DeployReport, BackendError>>;

    /// Deletes every resource of the stack `stack_id`.
    fn delete<'a>(&'a self, stack_id: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let empty = Stack::new(stack_id);
            self.deploy(&empty).await.map(|_| ())
        })
    }
}

/// Registers and deregisters targets of one target group.
pub trait TargetRegistrar: Send + Sync {
    /// Every target registered in the group, with its health.
    /// `role`: the binding's `iamRoleArnToAssume` (the target group is in that account).
    fn describe<'a>(
        &'a self,
        target_group_arn: &'a str,
        role: Option<&'a AssumeRole>,
    ) -> BoxFuture<'a, Result<Vec<TargetHealth>, BackendError>>;
    /// Registers targets (one API call; callers batch).
    fn register<'a>(
        &'a self,
        target_group_arn: &'a str,
        role: Option<&'a AssumeRole>,
        targets: &'a [Target],
    ) -> BoxFuture<'a, Result<(), BackendError>>;
    /// Deregisters targets (one API call; callers batch).
    fn deregister<'a>(
        &'a self,
        target_group_arn: &'a str,
        role: Option<&'a AssumeRole>,
        targets: &'a [Target],
    ) -> BoxFuture<'a, Result<(), BackendError>>;
}
