//! What the reconcilers drive, behind traits: the model builder, the AWS stack deployer and
//! the target registrar. The live process plugs in the real implementations; tests and
//! benchmarks use [`crate::fakes`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};

use crate::index::GroupMembers;
use crate::targets::{Target, TargetHealth};
use model::builder::ObjectMap;
use model::stack::Stack;

/// A boxed, sendable future (the traits are used as `Arc<dyn ...>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A failure of a backend: a stable category for metrics and the requeue policy, the message
/// for events, and the original error (the deployer's, the model's, the SDK's) as its source.
#[derive(Clone, Debug)]
pub struct BackendError {
    /// Stable, low-cardinality category (metric label).
    pub category: &'static str,
    pub message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for BackendError {
    /// Equal when category and message are (the source is what they were made from).
    fn eq(&self, other: &Self) -> bool {
        self.category == other.category && self.message == other.message
    }
}

impl Eq for BackendError {}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// An error with its causes, for events and logs: `error: cause: cause`, leaving out a cause
/// whose text the ones before already carry (many errors print their source themselves).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let part = next.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = next.source();
    }
    text
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
            source: None,
        }
    }

    /// This error, caused by `source` (kept for the error chain).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
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

/// Builds the desired stack of one Service (an NLB). A Service that is not ours, or is being
/// deleted, must yield an empty stack of kind Service (its resources are then deleted).
pub trait ServiceStackBuilder: Send + Sync {
    fn build_service<'a>(
        &'a self,
        service: &'a Service,
    ) -> BoxFuture<'a, Result<Stack, BackendError>>;
}

/// What a deploy produced: what the status and the TargetGroupBindings need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeployReport {
    /// The load balancer's DNS name; `None` for an empty stack.
    pub dns_name: Option<String>,
    /// The frontend NLB's DNS name (`enable-frontend-nlb`), when the stack has one.
    pub frontend_dns_name: Option<String>,
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

    /// Called before every stack is deployed again (a resync, or a new leader's first pass):
    /// a deployer may read what the cluster owns once, for all the deploys that follow, instead
    /// of once per stack. Failing, or doing nothing, only costs those reads.
    fn prefetch(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async { Ok(()) })
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

/// A role to assume, as a TargetGroupBinding names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
}

impl AssumeRole {
    /// `iamRoleArnToAssume` (and `assumeRoleExternalId`), if set and not empty.
    pub fn of(role_arn: Option<&str>, external_id: Option<&str>) -> Option<AssumeRole> {
        let role_arn = role_arn.filter(|r| !r.is_empty())?;
        Some(AssumeRole {
            role_arn: role_arn.to_owned(),
            external_id: external_id.filter(|e| !e.is_empty()).map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("DescribeLoadBalancers: Throttling Rate exceeded")]
    struct Sdk;

    #[derive(Debug, thiserror::Error)]
    #[error("deploy of stack shop failed")]
    struct Deploy(#[source] Sdk);

    #[test]
    fn the_source_chain_reaches_the_text_once() {
        let error = BackendError::new("throttled", "load balancer shop").with_source(Deploy(Sdk));
        assert_eq!(
            chain(&error),
            "load balancer shop: deploy of stack shop failed: DescribeLoadBalancers: Throttling Rate exceeded"
        );
        // A cause already in the message is not repeated.
        let error = BackendError::new(
            "throttled",
            "DescribeLoadBalancers: Throttling Rate exceeded",
        )
        .with_source(Sdk);
        assert_eq!(
            chain(&error),
            "DescribeLoadBalancers: Throttling Rate exceeded"
        );
        assert_eq!(error, BackendError::new("throttled", error.message.clone()));
    }
}
