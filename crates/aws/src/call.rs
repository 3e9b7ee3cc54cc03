//! One deploy's context: the clients, the configuration, the record of changes, the mutation
//! limit, and the wrappers every AWS call goes through (classification, our own jittered
//! retries on top of the SDK's, waiting out "in use" errors).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use backon::{ExponentialBuilder, Retryable};

use model::stack::StackKind;
use model::tags::Tags;

use super::aws::AwsClients;
use super::diff::{ChangeKind, FieldChange, ResourceDiff, placeholder};
use super::error::{AwsFailure, DeployError, ResourceRef};
use super::ownership::{ForeignResource, Ownership, ownership};
use super::tags;
use super::{DeployConfig, ResourceChange};

/// What a deploy changed, in the order it happened.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub created: Vec<ResourceChange>,
    pub modified: Vec<ResourceChange>,
    pub deleted: Vec<ResourceChange>,
    /// Someone else's listeners and rules on our load balancer, left alone.
    pub foreign: Vec<ForeignResource>,
}

/// Whether a run changes AWS or only works out what it would change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Apply,
    DryRun,
}

pub(crate) struct Ctx<'a> {
    pub clients: &'a AwsClients,
    pub config: &'a DeployConfig,
    /// Whose stack it is: names the tag keys everything of the stack carries.
    pub kind: StackKind,
    pub stack_id: &'a str,
    mode: Mode,
    mutation_limit: Option<usize>,
    mutations: AtomicUsize,
    changes: Mutex<Changes>,
    plan: Mutex<Vec<ResourceDiff>>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        clients: &'a AwsClients,
        config: &'a DeployConfig,
        kind: StackKind,
        stack_id: &'a str,
        mode: Mode,
        mutation_limit: Option<usize>,
    ) -> Self {
        Self {
            clients,
            config,
            kind,
            stack_id,
            mode,
            mutation_limit,
            mutations: AtomicUsize::new(0),
            changes: Mutex::new(Changes::default()),
            plan: Mutex::new(Vec::new()),
        }
    }

    /// The tags a resource of this stack carries ([`tags::desired_tags`]).
    pub fn desired_tags(&self, user: &Tags, resource_id: &str) -> Tags {
        tags::desired_tags(
            user,
            self.kind,
            &self.config.cluster_name,
            self.stack_id,
            resource_id,
        )
    }

    /// Whether a resource's tags say it belongs to this stack (cluster, kind and ID).
    pub fn owns(&self, tags: &Tags) -> bool {
        tags::is_owned(tags, self.kind, &self.config.cluster_name, self.stack_id)
    }

    /// The resource ID under this stack kind's key.
    pub fn resource_id<'t>(&self, tags: &'t Tags) -> Option<&'t str> {
        tags::resource_id(tags, self.kind)
    }

    /// Whose a listener or rule on one of this stack's load balancers is.
    pub fn ownership(&self, tags: &Tags) -> Ownership {
        ownership(tags, self.kind, &self.config.cluster_name, self.stack_id)
    }

    /// What was changed, and what every step decided (in a dry run: what would be changed).
    pub fn finish(self) -> (Changes, Vec<ResourceDiff>) {
        let changes = self
            .changes
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let plan = self
            .plan
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        (changes, plan)
    }

    /// Whether this run only works out what it would do.
    pub fn dry_run(&self) -> bool {
        self.mode == Mode::DryRun
    }

    /// Records a decision about one resource (in both modes).
    pub fn decided(&self, diff: ResourceDiff) {
        self.plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(diff);
    }

    /// Records that a resource is to be created; in a dry run returns the placeholder that
    /// stands in for its identity (the caller then skips the creation).
    pub fn deciding_create(
        &self,
        resource: &ResourceRef,
        fields: Vec<FieldChange>,
    ) -> Option<String> {
        self.decided(ResourceDiff::create(resource, fields));
        self.dry_run().then(|| placeholder(resource))
    }

    /// Adds fields to the decision already recorded about a resource (a target group whose
    /// registered targets change after it was judged): an unchanged one becomes a modify. Without
    /// such a decision, records a modify of `aws_id`.
    pub fn amend(&self, resource: &ResourceRef, aws_id: &str, fields: Vec<FieldChange>) {
        if fields.is_empty() {
            return;
        }
        let mut plan = self.plan.lock().unwrap_or_else(PoisonError::into_inner);
        let earlier = plan
            .iter_mut()
            .rev()
            .find(|d| &d.resource == resource && d.change != ChangeKind::Delete);
        match earlier {
            Some(diff) => {
                if diff.change == ChangeKind::Unchanged {
                    diff.change = ChangeKind::Modify;
                }
                diff.fields.extend(fields);
            }
            None => plan.push(ResourceDiff::existing(resource, aws_id, fields)),
        }
    }

    /// Whether this run created the resource with that ARN (or ID).
    pub fn is_created(&self, aws_id: &str) -> bool {
        self.changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .created
            .iter()
            .any(|c| c.aws_id == aws_id)
    }

    fn note(
        &self,
        pick: impl FnOnce(&mut Changes) -> &mut Vec<ResourceChange>,
        change: ResourceChange,
    ) {
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let list = pick(&mut changes);
        if !list.contains(&change) {
            list.push(change);
        }
    }

    pub fn created(&self, resource: &ResourceRef, aws_id: &str) {
        self.note(|c| &mut c.created, ResourceChange::new(resource, aws_id));
    }

    /// Records a change to an existing resource (not one created by this deploy).
    pub fn modified(&self, resource: &ResourceRef, aws_id: &str) {
        let change = ResourceChange::new(resource, aws_id);
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        if !changes.created.contains(&change) && !changes.modified.contains(&change) {
            changes.modified.push(change);
        }
    }

    pub fn deleted(&self, resource: &ResourceRef, aws_id: &str) {
        self.note(|c| &mut c.deleted, ResourceChange::new(resource, aws_id));
    }

    /// Records a listener or rule of someone else's that this run leaves alone (in both modes).
    pub fn left_alone(&self, foreign: ForeignResource) {
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        if !changes.foreign.contains(&foreign) {
            changes.foreign.push(foreign);
        }
    }

    /// A read call: classified errors, retried while throttled or failing on AWS's side.
    pub async fn read<T, E, F, Fut>(
        &self,
        operation: &'static str,
        resource: &ResourceRef,
        call: F,
    ) -> Result<T, DeployError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.call(operation, resource, call).await
    }

    /// A mutating call: like [`Ctx::read`], but counted against the mutation limit first.
    pub async fn mutate<T, E, F, Fut>(
        &self,
        operation: &'static str,
        resource: &ResourceRef,
        call: F,
    ) -> Result<T, DeployError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if self.dry_run() {
            return Err(DeployError::DryRunMutation {
                operation,
                resource: resource.clone(),
            });
        }
        let done = self.mutations.fetch_add(1, Ordering::SeqCst);
        if let Some(limit) = self.mutation_limit
            && done >= limit
        {
            return Err(DeployError::Aborted {
                stack: self.stack_id.to_owned(),
                next: done + 1,
            });
        }
        self.call(operation, resource, call).await
    }

    async fn call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        resource: &ResourceRef,
        call: F,
    ) -> Result<T, DeployError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let retry = &self.config.call_retry;
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(retry.max_times);
        call.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|err: &SdkError<E, HttpResponse>| {
                AwsFailure::from_sdk(err).category.is_retryable()
            })
            .notify(|err: &SdkError<E, HttpResponse>, wait: Duration| {
                let failure = AwsFailure::from_sdk(err);
                tracing::debug!(
                    operation,
                    %resource,
                    code = %failure.code,
                    category = %failure.category,
                    ?wait,
                    "retrying AWS call"
                );
            })
            .await
            .map_err(|err| DeployError::aws(operation, resource, AwsFailure::from_sdk(&err)))
    }

    /// A mutating call that may fail for a while for a reason that goes away by itself
    /// (`DependencyViolation` while network interfaces release a security group, `ResourceInUse`
    /// while a deleted load balancer lets go of its target groups): tried again every `interval`
    /// until `timeout`.
    pub async fn mutate_until_free<T, E, F, Fut>(
        &self,
        operation: &'static str,
        resource: &ResourceRef,
        transient_codes: &[&str],
        timeout: Duration,
        interval: Duration,
        mut call: F,
    ) -> Result<T, DeployError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let started = Instant::now();
        loop {
            match self.mutate(operation, resource, &mut call).await {
                Err(err) if err.code().is_some_and(|c| transient_codes.contains(&c)) => {
                    let waited = started.elapsed();
                    if waited >= timeout {
                        return Err(DeployError::TimedOut {
                            operation,
                            resource: resource.clone(),
                            waited,
                            last: Box::new(err),
                        });
                    }
                    tokio::time::sleep(interval.min(timeout - waited)).await;
                }
                other => return other,
            }
        }
    }
}
