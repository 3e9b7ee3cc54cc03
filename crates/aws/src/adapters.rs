//! The real backends behind the controller's traits: the model builder, the AWS deployer, an
//! ELBv2 target registrar, and a loader of the VPC facts the builder needs.

use std::sync::{Arc, PoisonError, RwLock};

use aws_sdk_elasticloadbalancingv2::types::TargetDescription;

use crate::Deployer;
use crate::assumed_roles::AssumedRoles;
use crate::error::AwsFailure;
use controller::backend_sg::BackendSecurityGroup;
use controller::backends::{
    AssumeRole, BackendError, BoxFuture, BuildRequest, DeployReport, StackBuilder, StackDeployer,
    TargetRegistrar,
};
use controller::targets::{Target, TargetHealth, TargetState};
use model::ClusterFacts;
use model::builder::{self, ExistingLoadBalancer, GroupInputs, Member};
use model::group::GroupId;
use model::stack::Scheme;
use model::stack::{Stack, StackKind, StringToken};
use model::subnets::{RouteTable, Subnet, SubnetLocale};

/// The pure model builder over facts that can be refreshed.
pub struct ModelBuilder {
    facts: Arc<RwLock<ClusterFacts>>,
    backend_security_group: Option<BackendSecurityGroup>,
    /// Reads a group's existing load balancer (scheme, subnets) from AWS the first time the
    /// group is built; `None` builds without.
    existing: Option<crate::AwsClients>,
    /// What each group's load balancer is (or is about to be, once its stack is deployed).
    known: KnownLoadBalancers<GroupId>,
    /// The deployer whose resync snapshot answers first ([`read_existing`]).
    prefetched: Option<Deployer>,
}

/// What each stack's load balancer is, as the model builders need it: read from AWS the first
/// time a stack is built, then followed from the stacks built (the deploy makes AWS match them).
pub struct KnownLoadBalancers<K> {
    known: std::sync::Mutex<std::collections::HashMap<K, Option<ExistingLoadBalancer>>>,
}

impl<K> Default for KnownLoadBalancers<K> {
    fn default() -> Self {
        Self {
            known: std::sync::Mutex::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq> KnownLoadBalancers<K> {
    /// The stack's load balancer: remembered, else read with `read` (nothing without clients).
    pub async fn get_or_read<'c, F, Fut>(
        &self,
        key: K,
        clients: Option<&'c crate::AwsClients>,
        read: F,
    ) -> Result<Option<ExistingLoadBalancer>, BackendError>
    where
        F: FnOnce(&'c crate::AwsClients) -> Fut,
        Fut: std::future::Future<Output = Result<Option<ExistingLoadBalancer>, BackendError>>,
    {
        if let Some(known) = self
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(known.clone());
        }
        let Some(clients) = clients else {
            return Ok(None);
        };
        let found = read(clients).await?;
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, found.clone());
        Ok(found)
    }

    /// Remembers the load balancer (the `LoadBalancer` resource, never a frontend NLB) that a
    /// built stack describes.
    pub fn remember(&self, key: K, stack: &Stack) {
        let lb = stack
            .resources
            .load_balancers
            .get(model::stack::resource_id::LOAD_BALANCER)
            .map(|lb| ExistingLoadBalancer {
                scheme: lb.spec.scheme,
                subnet_ids: lb
                    .spec
                    .subnet_mappings
                    .iter()
                    .map(|m| m.subnet_id.clone())
                    .collect(),
                // A managed group is not created yet: its reference stands for it.
                security_groups: lb
                    .spec
                    .security_groups
                    .iter()
                    .map(|token| match token {
                        StringToken::Literal(id) => id.clone(),
                        StringToken::Ref(r) => r.pointer(),
                    })
                    .collect(),
            });
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, lb);
    }
}

impl ModelBuilder {
    pub fn new(facts: ClusterFacts) -> Self {
        Self {
            facts: Arc::new(RwLock::new(facts)),
            backend_security_group: None,
            existing: None,
            known: KnownLoadBalancers::default(),
            prefetched: None,
        }
    }

    /// Takes a group's existing load balancer from `deployer`'s resync snapshot when that may
    /// serve the group, before reading it ([`Deployer::prefetch`]).
    pub fn with_prefetched(mut self, deployer: Deployer) -> Self {
        self.prefetched = Some(deployer);
        self
    }

    /// Builds with each group's existing load balancer, as upstream: discovered subnets of a
    /// load balancer that already exists (same scheme) are kept, so a restart, a takeover from
    /// upstream or a newly tagged subnet never moves a live load balancer. Read once per group
    /// (tagging API + DescribeLoadBalancers), then followed from the stacks built.
    pub fn with_existing_load_balancers(mut self, clients: crate::AwsClients) -> Self {
        self.existing = Some(clients);
        self
    }

    async fn existing_lb(
        &self,
        cluster: &str,
        group: &GroupId,
    ) -> Result<Option<ExistingLoadBalancer>, BackendError> {
        let id = group.to_string();
        self.known
            .get_or_read(group.clone(), self.existing.as_ref(), |clients| {
                read_existing(
                    self.prefetched.as_ref(),
                    clients,
                    cluster,
                    StackKind::Ingress,
                    &id,
                )
            })
            .await
    }

    /// Obtains the backend security group from `provider` when the facts have none (the
    /// feature enabled, no fixed ID) and the group has an active member.
    pub fn with_backend_security_group(mut self, provider: BackendSecurityGroup) -> Self {
        self.backend_security_group = Some(provider);
        self
    }

    /// The shared facts (replace them to refresh subnets, certificates, ...).
    pub fn facts(&self) -> Arc<RwLock<ClusterFacts>> {
        self.facts.clone()
    }
}

impl StackBuilder for ModelBuilder {
    fn build<'a>(
        &'a self,
        request: BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Stack, BackendError>> {
        let mut facts = self
            .facts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let members = request.members;
        Box::pin(async move {
            // A group being deleted (no active member) needs no backend group: none is made.
            if facts.enable_backend_security_group
                && facts.backend_security_group.is_none()
                && !members.active.is_empty()
                && let Some(provider) = &self.backend_security_group
            {
                facts.backend_security_group = Some(provider.get().await?);
            }
            let existing = if members.active.is_empty() {
                None
            } else {
                self.existing_lb(&facts.cluster_name, &members.id).await?
            };
            let stack = build_stack(&facts, request, existing.as_ref())?;
            self.known.remember(members.id.clone(), &stack);
            Ok(stack)
        })
    }
}

/// The pure build of one group over `facts`.
fn build_stack(
    facts: &ClusterFacts,
    request: BuildRequest<'_>,
    existing_lb: Option<&ExistingLoadBalancer>,
) -> Result<Stack, BackendError> {
    let members = request.members;
    builder::build(&GroupInputs {
        group: members.id.clone(),
        members: members
            .active
            .iter()
            .map(|m| Member {
                ingress: &m.ingress,
                params: m.params.as_ref().map(|p| &p.spec),
            })
            .collect(),
        inactive_members: members.inactive.iter().map(AsRef::as_ref).collect(),
        services: request.services,
        secrets: request.secrets,
        facts,
        existing_lb: existing_lb.cloned(),
    })
    .map_err(|error| BackendError::new(error.category(), error.to_string()).with_source(error))
}

/// A stack's load balancer in AWS, as the model builders need to know it: its scheme, subnets
/// and security groups; `None` when the stack has none.
///
/// Found by the cluster tag and the kind's stack tag (`ingress.k8s.aws/stack` for an
/// IngressGroup, `service.k8s.aws/stack` for a Service: the same `ns/name` names two different
/// stacks) through the tagging API, preferring the one tagged as the stack's `LoadBalancer`
/// (an IngressGroup's frontend NLB is never taken for it), then described. Two calls; a load balancer the tagging API still lists after its deletion
/// counts as none.
pub async fn existing_load_balancer(
    clients: &crate::AwsClients,
    cluster: &str,
    kind: StackKind,
    stack_id: &str,
) -> Result<Option<ExistingLoadBalancer>, BackendError> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;
    let tagged = clients
        .tagging
        .get_resources()
        .tag_filters(crate::discover::cluster_tag_filter(cluster))
        .tag_filters(
            TagFilter::builder()
                .key(kind.stack_tag())
                .values(stack_id)
                .build(),
        )
        .resource_type_filters("elasticloadbalancing:loadbalancer")
        .send()
        .await
        .map_err(|e| aws_error("GetResources", &e))?;
    let mappings = tagged.resource_tag_mapping_list();
    let Some(arn) = crate::tags::main_load_balancer(mappings, |m| {
        m.tags()
            .iter()
            .find(|t| t.key() == kind.resource_tag())
            .map(|t| t.value())
    })
    .and_then(|m| m.resource_arn()) else {
        return Ok(None);
    };
    let described = clients
        .elbv2
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await;
    let described = match described {
        Ok(out) => out,
        Err(e) if AwsFailure::from_sdk(&e).code == "LoadBalancerNotFound" => return Ok(None),
        Err(e) => return Err(aws_error("DescribeLoadBalancers", &e)),
    };
    Ok(described.load_balancers().first().and_then(existing_of))
}

/// A stack's existing load balancer for a model builder: from the deployer's resync snapshot
/// when it may serve the stack (no read), else read from AWS ([`existing_load_balancer`]).
pub async fn read_existing(
    prefetched: Option<&Deployer>,
    clients: &crate::AwsClients,
    cluster: &str,
    kind: StackKind,
    stack_id: &str,
) -> Result<Option<ExistingLoadBalancer>, BackendError> {
    if let Some(deployer) = prefetched
        && let Some(lb) = deployer.prefetched_load_balancer(kind, stack_id).await
    {
        return Ok(lb.as_ref().and_then(existing_of));
    }
    existing_load_balancer(clients, cluster, kind, stack_id).await
}

/// What a model builder keeps of an existing load balancer.
fn existing_of(
    lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
) -> Option<ExistingLoadBalancer> {
    let scheme = match lb.scheme()?.as_str() {
        "internet-facing" => Scheme::InternetFacing,
        _ => Scheme::Internal,
    };
    Some(ExistingLoadBalancer {
        scheme,
        subnet_ids: lb
            .availability_zones()
            .iter()
            .filter_map(|az| az.subnet_id().map(str::to_owned))
            .collect(),
        security_groups: lb.security_groups().to_vec(),
    })
}

/// A deployer failure as the controller sees it, with its category.
fn deploy_error(error: crate::DeployError) -> BackendError {
    BackendError::new(error.category().as_str(), error.to_string()).with_source(error)
}

impl StackDeployer for Deployer {
    fn deploy<'a>(&'a self, stack: &'a Stack) -> BoxFuture<'a, Result<DeployReport, BackendError>> {
        Box::pin(async move {
            let report = Deployer::deploy(self, stack).await.map_err(deploy_error)?;
            Ok(DeployReport {
                dns_name: report.dns_name.clone(),
                frontend_dns_name: report.frontend_dns_name.clone(),
                target_group_arns: report.target_group_arns.clone(),
                security_group_ids: report.security_group_ids.clone(),
            })
        })
    }

    fn prefetch(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            match Deployer::prefetch(self).await {
                Ok(Some(stacks)) => tracing::info!(
                    stacks,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "read what the cluster owns for the resync"
                ),
                Ok(None) => {}
                Err(error) => return Err(deploy_error(error)),
            }
            Ok(())
        })
    }
}

/// Registers targets with the ELBv2 API.
#[derive(Clone, Debug)]
pub struct AwsRegistrar {
    roles: AssumedRoles,
    /// Target groups the deployer created, described as empty without a call.
    fresh: Option<Arc<crate::fresh_target_groups::FreshTargetGroups>>,
}

impl AwsRegistrar {
    /// Registers with the controller's clients, or in a binding's `iamRoleArnToAssume`.
    pub fn new(clients: crate::AwsClients) -> Self {
        Self {
            roles: AssumedRoles::new(clients),
            fresh: None,
        }
    }

    /// Answers the first describe of a target group `deployer` created as empty, without a
    /// call ([`crate::fresh_target_groups`]).
    pub fn with_fresh_target_groups(mut self, deployer: &Deployer) -> Self {
        self.fresh = Some(deployer.fresh_target_groups());
        self
    }

    /// Whether `arn` is a target group the deployer created, still empty.
    fn known_empty(&self, arn: &str, role: Option<&AssumeRole>) -> bool {
        role.is_none() && self.fresh.as_ref().is_some_and(|f| f.take_empty(arn))
    }

    /// Targets of `arn` change: no longer known empty.
    fn changing(&self, arn: &str) {
        if let Some(fresh) = &self.fresh {
            fresh.changed(arn);
        }
    }
}

/// An SDK error of any of our clients as a [`BackendError`]: its category, and
/// `<operation>: <code> <message>`.
pub(crate) fn aws_error<E>(
    operation: &str,
    error: &aws_sdk_elasticloadbalancingv2::error::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> BackendError
where
    E: aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = AwsFailure::from_sdk(error);
    BackendError::new(
        failure.category.as_str(),
        format!("{operation}: {} {}", failure.code, failure.message)
            .trim()
            .to_owned(),
    )
}

fn descriptions(targets: &[Target]) -> Vec<TargetDescription> {
    targets
        .iter()
        .map(|t| TargetDescription::builder().id(&t.id).port(t.port).build())
        .collect()
}

impl TargetRegistrar for AwsRegistrar {
    fn describe<'a>(
        &'a self,
        arn: &'a str,
        role: Option<&'a AssumeRole>,
    ) -> BoxFuture<'a, Result<Vec<TargetHealth>, BackendError>> {
        Box::pin(async move {
            if self.known_empty(arn, role) {
                return Ok(Vec::new());
            }
            let out = self
                .roles
                .elbv2(role)
                .await
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(|e| aws_error("DescribeTargetHealth", &e))?;
            Ok(out
                .target_health_descriptions()
                .iter()
                .filter_map(|d| {
                    let target = d.target()?;
                    let health = d.target_health();
                    Some(TargetHealth {
                        target: Target::new(
                            target.id().unwrap_or_default(),
                            target.port().unwrap_or_default(),
                        ),
                        state: health
                            .and_then(|h| h.state())
                            .map(|s| TargetState::from_wire(s.as_str()))
                            .unwrap_or(TargetState::Other(String::new())),
                        reason: health
                            .and_then(|h| h.reason())
                            .map(|r| r.as_str().to_owned()),
                        description: health.and_then(|h| h.description()).map(str::to_owned),
                    })
                })
                .collect())
        })
    }

    fn register<'a>(
        &'a self,
        arn: &'a str,
        role: Option<&'a AssumeRole>,
        targets: &'a [Target],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.changing(arn);
            self.roles
                .elbv2(role)
                .await
                .register_targets()
                .target_group_arn(arn)
                .set_targets(Some(descriptions(targets)))
                .send()
                .await
                .map_err(|e| aws_error("RegisterTargets", &e))?;
            Ok(())
        })
    }

    fn deregister<'a>(
        &'a self,
        arn: &'a str,
        role: Option<&'a AssumeRole>,
        targets: &'a [Target],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.changing(arn);
            self.roles
                .elbv2(role)
                .await
                .deregister_targets()
                .target_group_arn(arn)
                .set_targets(Some(descriptions(targets)))
                .send()
                .await
                .map_err(|e| aws_error("DeregisterTargets", &e))?;
            Ok(())
        })
    }
}

/// Fills `facts` with the VPC's subnets and route tables from EC2.
pub async fn load_vpc_facts(
    ec2: &aws_sdk_ec2::Client,
    facts: &mut ClusterFacts,
) -> Result<(), BackendError> {
    use aws_sdk_ec2::types::Filter;
    let vpc = Filter::builder()
        .name("vpc-id")
        .values(&facts.vpc_id)
        .build();
    let mut subnets = Vec::new();
    let mut pages = ec2
        .describe_subnets()
        .filters(vpc.clone())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeSubnets", &e))?;
        for s in page.subnets() {
            subnets.push(Subnet {
                id: s.subnet_id().unwrap_or_default().to_owned(),
                az: s.availability_zone().unwrap_or_default().to_owned(),
                az_id: s.availability_zone_id().map(str::to_owned),
                vpc_id: s.vpc_id().unwrap_or_default().to_owned(),
                available_ips: i64::from(s.available_ip_address_count().unwrap_or_default()),
                tags: s
                    .tags()
                    .iter()
                    .filter_map(|t| {
                        Some((
                            t.key()?.to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect(),
                ipv6_cidrs: s
                    .ipv6_cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.ipv6_cidr_block().map(str::to_owned))
                    .collect(),
                cidr: s.cidr_block().map(str::to_owned),
                locale: if s.outpost_arn().is_some() {
                    SubnetLocale::Outpost
                } else {
                    SubnetLocale::AvailabilityZone
                },
            });
        }
    }
    let mut tables = Vec::new();
    let mut pages = ec2
        .describe_route_tables()
        .filters(vpc)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeRouteTables", &e))?;
        for t in page.route_tables() {
            tables.push(RouteTable {
                id: t.route_table_id().unwrap_or_default().to_owned(),
                main: t.associations().iter().any(|a| a.main().unwrap_or(false)),
                subnet_ids: t
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id().map(str::to_owned))
                    .collect(),
                gateway_ids: t
                    .routes()
                    .iter()
                    .filter_map(|r| r.gateway_id().map(str::to_owned))
                    .collect(),
            });
        }
    }
    facts.subnets = subnets;
    facts.route_tables = Some(tables);
    Ok(())
}

#[cfg(test)]
mod tests;
