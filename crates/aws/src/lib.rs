//! The AWS deployer: makes ELBv2 and EC2 match a desired [`Stack`] with as few calls as it
//! can, touching only resources that carry our cluster and stack tags.
//!
//! A stack is an IngressGroup's (an ALB) or a Service's (an NLB), by its [`StackKind`]; the
//! kind names the tag keys its resources carry (`ingress.k8s.aws/stack` and `/resource`, or
//! `service.k8s.aws/stack` and `/resource`, both with `elbv2.k8s.aws/cluster`), and so
//! everything a deploy finds, owns and adopts. A Service `ns/x` and an implicit IngressGroup
//! `ns/x` are two stacks that never see each other's resources. What differs for NLBs is in
//! `load_balancer.rs` (replacement order, security groups, subnets) and `target_group.rs`
//! (what forces a replacement); NLB listeners have no rules, so none are read.
//!
//! An IngressGroup's stack may hold a second load balancer next to its ALB (`LoadBalancer`):
//! the frontend NLB (`FrontendNlb`, `enable-frontend-nlb`), each load balancer found, created,
//! updated, replaced or deleted by its own resource tag. Its TCP listeners
//! (`FrontendNlb-ls-TCP-<port>`) may use the ALB's port numbers, and forward to target groups of
//! target type `alb` (`FrontendNlb-tg-TCP-<port>`) in which the ALB itself is registered
//! ([`alb_targets`]). A stack without `FrontendNlb` deletes the NLB and its target groups and
//! leaves the ALB alone. WAF and Shield add-ons belong to the ALB only.
//!
//! One deploy:
//!
//! 1. finds what the stack owns by its tags ([`discover`]);
//! 2. brings up, in dependency order, security groups → target groups → the load balancers →
//!    listeners → rules, matching actual to desired by the kind's resource tag (by load
//!    balancer and port for listeners, by priority and content for rules), creating what is
//!    missing (with the tags in the create call), modifying what drifted, and replacing what
//!    cannot change in place. Listeners and rules on our load balancer are ours by position even
//!    without our tags (upstream controllers without `ListenerRulesTagging` made them
//!    untagged): kept ones are adopted by adding our tags; those tagged for another cluster or
//!    stack are left alone and reported, and stop the deploy where they hold a port or priority
//!    the stack wants ([`ownership`]). Then the ALB is registered in the frontend NLB's `alb`
//!    target groups, those going away emptied first;
//! 3. then removes what is no longer wanted, in an order that never breaks traffic that is
//!    still wanted: stale rules → stale listeners → load balancers → target groups → security
//!    groups (retried while network interfaces release them). A registration of the ALB that
//!    AWS refused (its listener not there yet for AWS) fails the deploy only now, with category
//!    `not_ready`, for the controller to try again.
//!
//! Every step re-derives its work from what AWS says, so a deploy interrupted at any point
//! converges on the next run without duplicates: created resources are found again by their
//! tags (or by name, for the kinds AWS names uniquely). Deleting a stack is deploying an
//! empty stack with the same ID ([`Deployer::delete`]).
//!
//! A dry run ([`Deployer::diff`]) takes the same steps with the same comparisons, but records
//! each decision (create / modify with the drifted fields / delete / unchanged) instead of
//! making the call; it only reads. See [`diff`].
//!
//! TargetGroupBindings are Kubernetes objects: they are not deployed here, but the report
//! carries the target group ARNs by resource ID so that the controller can fill them in.
//!
//! Beside the deployer, every other AWS call of the controller lives here too: [`adapters`]
//! (the controller's model builder, deployer and target registrar over AWS), [`networking`]
//! (TargetGroupBinding security group rules), [`backend_sg`] (the cluster's backend security
//! group), [`live_facts`] (subnets, named security groups, ACM certificates), [`vpc`] (the
//! cluster's VPC), [`target_groups`] (the TargetGroupBinding webhooks' lookups), and the clients
//! with their settings, throttles and call metrics ([`aws`], [`throttle`], [`endpoints`]).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod adapters;
mod addons;
mod alb_targets;
pub mod assumed_roles;
pub mod aws;
pub mod backend_sg;
mod call;
#[cfg(test)]
mod canned_http;
pub mod convert;
#[cfg(test)]
mod convert_tests;
pub mod diff;
mod discover;
mod elbv2_tags;
pub mod endpoints;
pub mod error;
mod fields;
pub mod fresh_target_groups;
mod listener;
pub mod live_facts;
mod load_balancer;
pub mod networking;
pub mod normal;
pub mod ownership;
mod prefetch;
mod resolve;
pub mod resource_ref;
pub mod rule_plan;
mod rules;
mod security_group;
pub mod service_builder;
pub mod sg_rules;
pub mod tags;
mod target_group;
pub mod target_groups;
#[cfg(test)]
mod tests;
pub mod throttle;
pub mod vpc;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use std::sync::Arc;

use model::stack::{LoadBalancerType, Stack, StackKind, TargetType, resource_id};

pub use aws::{AwsClients, AwsSettings, CallCounter, CallSnapshot, is_mutating};
pub use diff::{ChangeKind, DiffSummary, FieldChange, ResourceDiff, StackDiff};
pub use error::{DeployError, ErrorCategory, ResourceRef};
pub use ownership::{ForeignResource, Owner};

use call::{Ctx, Mode};

/// Our own retries of a call, on top of the SDK's: jittered exponential backoff while AWS
/// throttles or fails on its side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRetry {
    pub max_times: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for CallRetry {
    fn default() -> Self {
        Self {
            max_times: 3,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(20),
        }
    }
}

/// What the deployer needs to know besides the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployConfig {
    /// `--cluster-name`: the value of `elbv2.k8s.aws/cluster` on everything we own.
    pub cluster_name: String,
    /// The VPC security groups and target groups are created in.
    pub vpc_id: String,
    /// `--external-managed-tags`: keys we neither set nor remove.
    pub external_managed_tags: BTreeSet<String>,
    pub call_retry: CallRetry,
    /// How long deleting a security group is retried while network interfaces still use it.
    pub security_group_delete_timeout: Duration,
    /// How long deleting a target group is retried while a load balancer still uses it.
    pub target_group_delete_timeout: Duration,
    /// How long a resource created a moment ago may stay invisible to the next call.
    pub visibility_timeout: Duration,
    /// The pause between those retries.
    pub in_use_retry_interval: Duration,
    /// `--enable-wafv2`, `--enable-waf`, `--enable-shield`: whether the load balancer's add-ons
    /// of each kind are applied at all ([`addons`]).
    pub enable_wafv2: bool,
    pub enable_waf: bool,
    pub enable_shield: bool,
    /// How long the deployer trusts its own record that a frontend NLB's target group holds the
    /// ALB (read or registered by an earlier deploy) before reading it from AWS again
    /// (`DescribeTargetHealth`); zero reads it on every deploy ([`alb_targets`]).
    pub alb_target_recheck_interval: Duration,
    /// How long a cluster-wide snapshot read by [`Deployer::prefetch`] serves the deploys that
    /// follow it, stack by stack ([`prefetch`]).
    pub prefetch_ttl: Duration,
}

impl DeployConfig {
    pub fn new(cluster_name: impl Into<String>, vpc_id: impl Into<String>) -> Self {
        Self {
            cluster_name: cluster_name.into(),
            vpc_id: vpc_id.into(),
            external_managed_tags: BTreeSet::new(),
            call_retry: CallRetry::default(),
            security_group_delete_timeout: Duration::from_secs(120),
            target_group_delete_timeout: Duration::from_secs(60),
            visibility_timeout: Duration::from_secs(30),
            in_use_retry_interval: Duration::from_secs(2),
            enable_wafv2: true,
            enable_waf: true,
            enable_shield: true,
            alb_target_recheck_interval: Duration::from_secs(600),
            prefetch_ttl: Duration::from_secs(300),
        }
    }
}

/// Options of one deploy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeployOptions {
    /// Stop (with [`DeployError::Aborted`]) instead of making more than this many mutating
    /// calls; for testing recovery from interrupted deploys.
    pub mutation_limit: Option<usize>,
}

/// A resource a deploy created, modified or deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    pub resource: ResourceRef,
    /// The ARN, or the security group ID.
    pub aws_id: String,
}

impl ResourceChange {
    pub fn new(resource: &ResourceRef, aws_id: &str) -> Self {
        Self {
            resource: resource.clone(),
            aws_id: aws_id.to_owned(),
        }
    }
}

/// What a deploy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeployReport {
    pub stack_id: String,
    /// The load balancer's DNS name, for the Ingress status (an IngressGroup's ALB, a
    /// Service's NLB).
    pub dns_name: Option<String>,
    pub load_balancer_arn: Option<String>,
    /// The frontend NLB's DNS name (`enable-frontend-nlb`), when the stack has one: the
    /// Ingress status's second entry.
    pub frontend_dns_name: Option<String>,
    pub frontend_nlb_arn: Option<String>,
    /// Target group ARNs by resource ID, for the TargetGroupBindings.
    pub target_group_arns: BTreeMap<String, String>,
    /// Group IDs of the stack's security groups (created, modified or unchanged) by resource
    /// ID, for the TargetGroupBindings' networking rules.
    pub security_group_ids: BTreeMap<String, String>,
    pub created: Vec<ResourceChange>,
    pub modified: Vec<ResourceChange>,
    pub deleted: Vec<ResourceChange>,
    /// Listeners and rules on the stack's load balancer that carry another cluster's or
    /// stack's tags: left alone.
    pub foreign: Vec<ForeignResource>,
    /// Every AWS call this deploy made.
    pub calls_by_operation: CallSnapshot,
}

/// Deploys stacks with one set of clients.
#[derive(Clone, Debug)]
pub struct Deployer {
    clients: AwsClients,
    config: DeployConfig,
    /// What the frontend NLBs' target groups were last confirmed to hold (shared by clones).
    registrations: Arc<alb_targets::Registrations>,
    /// The cluster-wide discovery snapshot of a resync (shared by clones).
    prefetch: Arc<prefetch::Prefetch>,
    /// The target groups it created, empty until a registrar says otherwise (shared by clones).
    fresh: Arc<fresh_target_groups::FreshTargetGroups>,
}

impl Deployer {
    pub fn new(clients: AwsClients, config: DeployConfig) -> Self {
        Self {
            clients,
            config,
            registrations: Arc::default(),
            prefetch: Arc::default(),
            fresh: Arc::default(),
        }
    }

    pub fn clients(&self) -> &AwsClients {
        &self.clients
    }

    pub fn config(&self) -> &DeployConfig {
        &self.config
    }

    /// The target groups its deploys created, for the registrar ([`fresh_target_groups`]).
    pub fn fresh_target_groups(&self) -> Arc<fresh_target_groups::FreshTargetGroups> {
        self.fresh.clone()
    }

    /// Reads what the cluster owns (load balancers, target groups, security groups) once, for
    /// the deploys of every stack that follow: each then skips its own discovery reads
    /// ([`prefetch`]). Call it before deploying every stack again (a resync). Returns how many
    /// stacks the snapshot covers, or `None` when none was read (a fresh one exists, or this
    /// replica does not lead).
    pub async fn prefetch(&self) -> Result<Option<usize>, DeployError> {
        let ctx = Ctx::new(
            &self.clients,
            &self.config,
            StackKind::Ingress,
            "",
            Mode::Apply,
            None,
        );
        self.prefetch.read(&ctx).await
    }

    /// The stack's load balancer as the last [`Deployer::prefetch`] saw it, for a model
    /// builder that would otherwise read it: `Some(None)` when it saw none, `None` when that
    /// snapshot may not serve the stack.
    pub async fn prefetched_load_balancer(
        &self,
        kind: StackKind,
        stack_id: &str,
    ) -> Option<Option<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>> {
        self.prefetch
            .load_balancer(kind, stack_id, self.config.prefetch_ttl)
            .await
    }

    /// Makes AWS match the stack.
    pub async fn deploy(&self, stack: &Stack) -> Result<DeployReport, DeployError> {
        self.deploy_with(stack, &DeployOptions::default()).await
    }

    /// Deletes everything of ours that belongs to the IngressGroup's stack.
    pub async fn delete(&self, stack_id: &str) -> Result<DeployReport, DeployError> {
        self.delete_of(StackKind::Ingress, stack_id).await
    }

    /// Deletes everything of ours that belongs to the stack of that kind (a Service's:
    /// [`StackKind::Service`]); the other kind's stack with the same ID is not touched.
    pub async fn delete_of(
        &self,
        kind: StackKind,
        stack_id: &str,
    ) -> Result<DeployReport, DeployError> {
        self.deploy(&Stack::of_kind(kind, stack_id)).await
    }

    pub async fn deploy_with(
        &self,
        stack: &Stack,
        options: &DeployOptions,
    ) -> Result<DeployReport, DeployError> {
        let (result, calls) =
            aws::with_call_tally(self.run(stack, Mode::Apply, options.mutation_limit)).await;
        let (mut report, _) = result?;
        for change in &report.created {
            if change.resource.resource_type == model::stack::ResourceType::TargetGroup {
                self.fresh.created(&change.aws_id);
            }
        }
        report.calls_by_operation = calls;
        Ok(report)
    }

    /// What [`Deployer::deploy`] would do to AWS for this stack, worked out with read calls
    /// only: every resource it would create, modify (with the fields that drifted), delete or
    /// leave alone, in the order it would act.
    pub async fn diff(&self, stack: &Stack) -> Result<StackDiff, DeployError> {
        let (result, calls) = aws::with_call_tally(self.run(stack, Mode::DryRun, Some(0))).await;
        let (report, resources) = result?;
        Ok(StackDiff {
            stack_id: stack.id.clone(),
            kind: stack.kind,
            no_longer_planned: false,
            resources,
            foreign: report.foreign,
            calls_by_operation: calls,
        })
    }

    /// What [`Deployer::delete`] would delete: for a group that no longer exists but still
    /// owns AWS resources.
    pub async fn diff_deleted(&self, stack_id: &str) -> Result<StackDiff, DeployError> {
        self.diff_deleted_of(StackKind::Ingress, stack_id).await
    }

    /// What [`Deployer::delete_of`] would delete: for a group or Service that no longer exists
    /// but still owns AWS resources.
    pub async fn diff_deleted_of(
        &self,
        kind: StackKind,
        stack_id: &str,
    ) -> Result<StackDiff, DeployError> {
        let mut diff = self.diff(&Stack::of_kind(kind, stack_id)).await?;
        diff.no_longer_planned = true;
        Ok(diff)
    }

    /// The IDs of every IngressGroup stack of this cluster that owns a load balancer, target
    /// group or security group in AWS (by the `ingress.k8s.aws/stack` tag). Service stacks are
    /// not among them: [`Deployer::stack_ids_of`] lists those.
    pub async fn stack_ids(&self) -> Result<BTreeSet<String>, DeployError> {
        self.stack_ids_of(StackKind::Ingress).await
    }

    /// The IDs of every stack of this kind and cluster that owns a load balancer, target group
    /// or security group in AWS (by the kind's stack tag).
    pub async fn stack_ids_of(&self, kind: StackKind) -> Result<BTreeSet<String>, DeployError> {
        let ctx = Ctx::new(&self.clients, &self.config, kind, "", Mode::DryRun, Some(0));
        discover::stack_ids(&ctx).await
    }

    /// The diffs of the planned stacks, then those of this cluster's stacks in AWS that are not
    /// planned any more (everything of theirs would be deleted), by kind (IngressGroups first,
    /// then Services, whose stacks are looked for only when a Service stack is planned: a plan
    /// of Ingresses alone says nothing about Services) and stack ID.
    pub async fn diff_all(&self, planned: &[Stack]) -> Result<Vec<StackDiff>, DeployError> {
        let mut out = Vec::new();
        for stack in planned {
            out.push(self.diff(stack).await?);
        }
        let mut kinds = vec![StackKind::Ingress];
        if planned.iter().any(|s| s.kind == StackKind::Service) {
            kinds.push(StackKind::Service);
        }
        for kind in kinds {
            let wanted: BTreeSet<&str> = planned
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| s.id.as_str())
                .collect();
            for id in self.stack_ids_of(kind).await? {
                if !wanted.contains(id.as_str()) {
                    out.push(self.diff_deleted_of(kind, &id).await?);
                }
            }
        }
        Ok(out)
    }

    /// One deploy (or dry run): the report and every decision taken.
    async fn run(
        &self,
        stack: &Stack,
        mode: Mode,
        mutation_limit: Option<usize>,
    ) -> Result<(DeployReport, Vec<ResourceDiff>), DeployError> {
        validate(stack)?;
        let ctx = Ctx::new(
            &self.clients,
            &self.config,
            stack.kind,
            &stack.id,
            mode,
            mutation_limit,
        );
        let (prefetched, _running) = match mode {
            Mode::Apply => {
                let (owned, running) = self
                    .prefetch
                    .take(stack.kind, &stack.id, self.config.prefetch_ttl)
                    .await;
                (owned, Some(running))
            }
            Mode::DryRun => (None, None),
        };
        let addons = addons::prepare(&ctx, stack).await?;
        let owned = match prefetched {
            Some(owned) => owned,
            None => discover::owned(&ctx).await?,
        };
        let mut resolver = resolve::Resolver::default();

        let stale_sgs =
            security_group::sync(&ctx, stack, owned.security_groups, &mut resolver).await?;
        let (target_group_arns, stale_tgs) =
            target_group::sync(&ctx, stack, owned.target_groups, &mut resolver).await?;
        let mut lb = load_balancer::sync(&ctx, stack, owned.load_balancers, &mut resolver).await?;
        let stale_lbs = std::mem::take(&mut lb.extras);
        // Network load balancers have no listener rules: theirs are not read.
        let existing = lb.existing();
        let found_listeners = if existing.is_empty() {
            Vec::new()
        } else {
            discover::listeners(&ctx, &existing).await?
        };
        let listeners = listener::sync(
            &ctx,
            stack,
            found_listeners,
            &lb.arns(),
            &lb.network_arns(),
            &mut resolver,
        )
        .await?;
        let stale_rules = rules::sync(&ctx, stack, listeners.rules, &resolver).await?;
        // Web ACLs and Shield protect the ALB, never a frontend NLB.
        let alb = lb.get(resource_id::LOAD_BALANCER);
        addons::sync(&ctx, &addons, alb.map(|p| p.arn.as_str())).await?;
        alb_targets::release_stale(&ctx, &stale_tgs, &self.registrations).await?;
        let not_ready = alb_targets::sync(&ctx, stack, &resolver, &self.registrations).await?;

        rules::delete(&ctx, stale_rules).await?;
        listener::delete(&ctx, listeners.stale).await?;
        load_balancer::delete(&ctx, stale_lbs).await?;
        target_group::delete(&ctx, stale_tgs).await?;
        security_group::delete(&ctx, stale_sgs).await?;
        if let Some(err) = not_ready {
            // Everything else is in place; the registration is tried again by the next run.
            return Err(err);
        }

        let frontend = lb.get(resource_id::FRONTEND_NLB);
        let (changes, decisions) = ctx.finish();
        let report = DeployReport {
            stack_id: stack.id.clone(),
            dns_name: alb.map(|p| p.dns_name.clone()),
            load_balancer_arn: alb.map(|p| p.arn.clone()),
            frontend_dns_name: frontend.map(|p| p.dns_name.clone()),
            frontend_nlb_arn: frontend.map(|p| p.arn.clone()),
            target_group_arns,
            security_group_ids: resolver.security_group_ids(),
            created: changes.created,
            modified: changes.modified,
            deleted: changes.deleted,
            foreign: changes.foreign,
            calls_by_operation: CallSnapshot::default(),
        };
        Ok((report, decisions))
    }
}

/// Refuses stacks the deployer cannot make sense of, before any call.
fn validate(stack: &Stack) -> Result<(), DeployError> {
    let whole = ResourceRef::new(model::stack::ResourceType::LoadBalancer, "");
    if stack.id.is_empty() {
        return Err(DeployError::invalid(&whole, "id", "the stack ID is empty"));
    }
    let lbs = &stack.resources.load_balancers;
    if let Some(other) = lbs
        .keys()
        .find(|id| *id != resource_id::LOAD_BALANCER && *id != resource_id::FRONTEND_NLB)
    {
        return Err(DeployError::invalid(
            &whole,
            "resources",
            format!(
                "a stack holds at most the load balancer {:?} and the frontend NLB {:?}, not {other:?}",
                resource_id::LOAD_BALANCER,
                resource_id::FRONTEND_NLB
            ),
        ));
    }
    if let Some(nlb) = lbs.get(resource_id::FRONTEND_NLB) {
        let what = ResourceRef::new(
            model::stack::ResourceType::LoadBalancer,
            resource_id::FRONTEND_NLB,
        );
        if stack.kind != StackKind::Ingress || !lbs.contains_key(resource_id::LOAD_BALANCER) {
            return Err(DeployError::invalid(
                &what,
                "resources",
                "a frontend NLB stands in front of an IngressGroup's load balancer, which the stack lacks",
            ));
        }
        if nlb.spec.load_balancer_type != LoadBalancerType::Network {
            return Err(DeployError::invalid(
                &what,
                "type",
                "the frontend NLB is a network load balancer",
            ));
        }
    }
    for (id, tg) in &stack.resources.target_groups {
        let what = ResourceRef::new(model::stack::ResourceType::TargetGroup, id.as_str());
        let spec = &tg.spec;
        if !spec.alb_targets.is_empty() && spec.target_type != TargetType::Alb {
            return Err(DeployError::invalid(
                &what,
                "albTargets",
                "only a target group of target type alb has an ALB as its target",
            ));
        }
        if spec.alb_targets.len() > 1 {
            return Err(DeployError::invalid(
                &what,
                "albTargets",
                "an alb target group holds one ALB",
            ));
        }
    }
    let dangling = stack
        .dangling_refs()
        .map_err(|e| DeployError::invalid(&whole, "resources", e.to_string()))?;
    if let Some(r) = dangling.first() {
        return Err(DeployError::invalid(
            &ResourceRef::new(r.resource_type, r.id.as_str()),
            r.field.as_str(),
            format!(
                "{} points at a resource missing from the stack",
                r.pointer()
            ),
        ));
    }
    Ok(())
}
