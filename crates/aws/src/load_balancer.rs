//! Load balancers: create with tags, replace on a type or scheme change, reconcile security
//! groups, subnets, address type, attributes and tags.
//!
//! Each load balancer of the stack is matched by its resource ID tag: `LoadBalancer` (an
//! IngressGroup's ALB, a Service's NLB) and an IngressGroup's `FrontendNlb`. One of ours that
//! the stack no longer has (the frontend NLB switched off) is deleted at the end of the deploy.
//!
//! Network load balancers (a Service's, a frontend NLB, any of type `network`) differ in a few
//! ways:
//!
//! * a replaced one is deleted before its successor is created, as upstream does: an NLB holds
//!   its Elastic IPs and private addresses until it is gone, and the new one wants them;
//! * one created without security groups can never get any (AWS refuses `SetSecurityGroups`
//!   there), so none is ever attempted; the model keeps such an NLB security-group-less;
//! * subnets are compared by subnet ID only: an Elastic IP or private address edit on the same
//!   subnets is not applied (AWS cannot change it in place; upstream does not either). The
//!   source-NAT prefix switch (`enablePrefixForIpv6SourceNat`), and an explicit source-NAT
//!   prefix a subnet reports otherwise, are applied with `SetSubnets`;
//! * `securityGroupsInboundRulesOnPrivateLink` is applied with `SetSecurityGroups`.
//!
//! A load balancer to delete that AWS refuses to delete for its deletion protection (switched on
//! outside the stack) gets `deletion_protection.enabled=false`, then is deleted, as upstream.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticloadbalancingv2::types as elbv2;

use model::stack::{Attribute, LoadBalancerSpec, LoadBalancerType, ResourceType, Stack, StackKind};

use super::call::Ctx;
use super::convert::sdk_tags;
use super::diff::{FieldChange, ResourceDiff};
use super::discover::{Found, elbv2_tags};
use super::elbv2_tags::apply_tags;
use super::error::{DeployError, ErrorCategory, ResourceRef};
use super::fields::{attribute_fields, set_change, tag_fields};
use super::normal::changed_attributes;
use super::resolve::{LB_ARN, LB_DNS_NAME, Resolver};
use super::tags::{TagDiff, diff_tags};

/// One load balancer of the stack, as it is (or, in a dry run, would be) after the step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The ARN (in a dry run, a placeholder for one it would create).
    pub arn: String,
    pub dns_name: String,
    pub load_balancer_type: LoadBalancerType,
    /// Whether it existed before this run (its listeners are then read).
    pub existed: bool,
}

/// What the load balancer step leaves for the next ones.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The stack's load balancers by resource ID (`LoadBalancer`, and an IngressGroup's
    /// `FrontendNlb`).
    pub placed: BTreeMap<String, Placed>,
    /// Load balancers to delete at the end.
    pub extras: Vec<Found<elbv2::LoadBalancer>>,
}

impl Outcome {
    /// The load balancer of that resource ID.
    pub fn get(&self, id: &str) -> Option<&Placed> {
        self.placed.get(id)
    }

    /// The ARNs of all the stack's load balancers.
    pub fn arns(&self) -> BTreeSet<String> {
        self.placed.values().map(|p| p.arn.clone()).collect()
    }

    /// The ARNs of the network load balancers among them.
    pub fn network_arns(&self) -> BTreeSet<String> {
        self.placed
            .values()
            .filter(|p| p.load_balancer_type == LoadBalancerType::Network)
            .map(|p| p.arn.clone())
            .collect()
    }

    /// Load balancers that existed before and stay, each with whether its listeners have
    /// rules (not a network load balancer's): their listeners are read next.
    pub fn existing(&self) -> Vec<(String, bool)> {
        self.placed
            .values()
            .filter(|p| p.existed)
            .map(|p| {
                (
                    p.arn.clone(),
                    p.load_balancer_type != LoadBalancerType::Network,
                )
            })
            .collect()
    }
}

/// The immutable field (type or scheme) in which an existing load balancer differs from the
/// spec, so that it must be replaced.
pub fn replacement(spec: &LoadBalancerSpec, lb: &elbv2::LoadBalancer) -> Option<FieldChange> {
    if let Some(t) = lb.r#type()
        && t.as_str() != spec.load_balancer_type.as_str()
    {
        return Some(FieldChange::values(
            "type",
            t.as_str(),
            spec.load_balancer_type.as_str(),
        ));
    }
    if let Some(s) = lb.scheme()
        && s.as_str() != spec.scheme.as_str()
    {
        return Some(FieldChange::values(
            "scheme",
            s.as_str(),
            spec.scheme.as_str(),
        ));
    }
    None
}

/// Whether an existing load balancer must be replaced (type and scheme cannot change).
pub fn needs_replacement(spec: &LoadBalancerSpec, lb: &elbv2::LoadBalancer) -> bool {
    replacement(spec, lb).is_some()
}

struct Desired<'a> {
    id: &'a str,
    spec: &'a LoadBalancerSpec,
    what: ResourceRef,
    security_groups: Vec<String>,
}

/// Brings the stack's load balancers in line, each matched by its resource ID tag (in a dry
/// run: records what that takes). Found ones of the stack that no load balancer of the stack
/// claims (a frontend NLB switched off) are left in [`Outcome::extras`], to delete at the end.
pub async fn sync(
    ctx: &Ctx<'_>,
    stack: &Stack,
    mut found: Vec<Found<elbv2::LoadBalancer>>,
    resolver: &mut Resolver,
) -> Result<Outcome, DeployError> {
    let mut outcome = Outcome::default();
    for (id, resource) in &stack.resources.load_balancers {
        let spec = &resource.spec;
        let what = ResourceRef::new(ResourceType::LoadBalancer, id.as_str());
        let security_groups = spec
            .security_groups
            .iter()
            .map(|t| resolver.token(t, &what, "securityGroups"))
            .collect::<Result<Vec<_>, _>>()?;
        let desired = Desired {
            id,
            spec,
            what,
            security_groups,
        };
        let (candidates, rest): (Vec<_>, Vec<_>) = found
            .into_iter()
            .partition(|f| ctx.resource_id(&f.tags) == Some(id.as_str()));
        found = rest;
        let mut current = None;
        let mut replacing = Vec::new();
        // Load balancers deleted ahead of the create: not to be found by name again.
        let mut gone = Vec::new();
        // A network load balancer's successor wants its addresses: it goes first, as upstream.
        let delete_first =
            ctx.kind == StackKind::Service || spec.load_balancer_type == LoadBalancerType::Network;
        for candidate in candidates {
            if current.is_none() && !needs_replacement(spec, &candidate.item) {
                current = Some(candidate);
                continue;
            }
            if replacing.is_empty() {
                replacing.extend(replacement(spec, &candidate.item));
            }
            if delete_first || candidate.item.load_balancer_name() == Some(spec.name.as_str()) {
                // Its name (or its addresses) are needed for the replacement: it goes first.
                delete_one(ctx, &candidate).await?;
                gone.push(candidate.arn);
            } else {
                outcome.extras.push(candidate);
            }
        }
        let current = match current {
            Some(lb) => Some(lb),
            None => find_by_name(ctx, &desired, &gone).await?,
        };
        let (arn, dns_name, existed) = match current {
            Some(lb) => {
                let update = plan_update(ctx, &desired, &lb).await?;
                ctx.decided(ResourceDiff::existing(
                    &desired.what,
                    &lb.arn,
                    update.fields.clone(),
                ));
                if !ctx.dry_run() {
                    apply_update(ctx, &desired, &lb.arn, &update).await?;
                }
                let dns_name = lb.item.dns_name().unwrap_or_default().to_owned();
                (lb.arn, dns_name, true)
            }
            None => match ctx.deciding_create(&desired.what, replacing) {
                Some(placeholder) => (placeholder.clone(), placeholder, false),
                None => {
                    let (arn, dns_name) = create(ctx, &desired).await?;
                    (arn, dns_name, false)
                }
            },
        };
        resolver.set(ResourceType::LoadBalancer, id, LB_ARN, arn.clone());
        resolver.set(
            ResourceType::LoadBalancer,
            id,
            LB_DNS_NAME,
            dns_name.clone(),
        );
        outcome.placed.insert(
            id.clone(),
            Placed {
                arn,
                dns_name,
                load_balancer_type: spec.load_balancer_type,
                existed,
            },
        );
    }
    outcome.extras.extend(found);
    Ok(outcome)
}

/// Looks for a load balancer with the desired name before creating one: a leftover of an
/// interrupted run is adopted; anyone else's is refused.
async fn find_by_name(
    ctx: &Ctx<'_>,
    desired: &Desired<'_>,
    gone: &[String],
) -> Result<Option<Found<elbv2::LoadBalancer>>, DeployError> {
    let what = &desired.what;
    let out = ctx
        .read("DescribeLoadBalancers", what, || {
            ctx.clients
                .elbv2
                .describe_load_balancers()
                .names(&desired.spec.name)
                .send()
        })
        .await;
    let existing: Vec<elbv2::LoadBalancer> = match out {
        Ok(out) => out
            .load_balancers()
            .iter()
            .filter(|lb| {
                !lb.load_balancer_arn()
                    .is_some_and(|a| gone.iter().any(|g| g == a))
            })
            .cloned()
            .collect(),
        Err(err) if err.category() == ErrorCategory::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let arns: Vec<String> = existing
        .iter()
        .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
        .collect();
    if arns.is_empty() {
        return Ok(None);
    }
    let mut tags = elbv2_tags(ctx, what, &arns).await?;
    let mut foreign = None;
    for lb in existing {
        let arn = lb.load_balancer_arn().unwrap_or_default().to_owned();
        let lb_tags = tags.remove(&arn).unwrap_or_default();
        let ours = ctx.owns(&lb_tags) && ctx.resource_id(&lb_tags) == Some(desired.id);
        if ours && !needs_replacement(desired.spec, &lb) {
            return Ok(Some(Found {
                item: lb,
                arn,
                tags: lb_tags,
            }));
        }
        foreign.get_or_insert(arn);
    }
    Err(DeployError::NotOwned {
        resource: what.clone(),
        existing: format!(
            "load balancer {} ({})",
            desired.spec.name,
            foreign.unwrap_or_default()
        ),
        cluster: ctx.config.cluster_name.clone(),
        stack: ctx.stack_id.to_owned(),
    })
}

fn subnet_mappings(spec: &LoadBalancerSpec) -> Vec<elbv2::SubnetMapping> {
    spec.subnet_mappings
        .iter()
        .map(|m| {
            elbv2::SubnetMapping::builder()
                .subnet_id(&m.subnet_id)
                .set_allocation_id(m.allocation_id.clone())
                .set_private_ipv4_address(m.private_ipv4_address.clone())
                .set_ipv6_address(m.ipv6_address.clone())
                .set_source_nat_ipv6_prefix(m.source_nat_ipv6_prefix.clone())
                .build()
        })
        .collect()
}

/// Creates the load balancer (with its tags), sets its attributes and capacity; returns its ARN
/// and DNS name.
async fn create(ctx: &Ctx<'_>, desired: &Desired<'_>) -> Result<(String, String), DeployError> {
    let spec = desired.spec;
    let what = &desired.what;
    let tags = ctx.desired_tags(&spec.tags, desired.id);
    let out = ctx
        .mutate("CreateLoadBalancer", what, || {
            ctx.clients
                .elbv2
                .create_load_balancer()
                .name(&spec.name)
                .r#type(elbv2::LoadBalancerTypeEnum::from(
                    spec.load_balancer_type.as_str(),
                ))
                .scheme(elbv2::LoadBalancerSchemeEnum::from(spec.scheme.as_str()))
                .ip_address_type(elbv2::IpAddressType::from(spec.ip_address_type.as_str()))
                .set_subnet_mappings(Some(subnet_mappings(spec)))
                .set_security_groups(
                    (!desired.security_groups.is_empty()).then(|| desired.security_groups.clone()),
                )
                .set_customer_owned_ipv4_pool(spec.customer_owned_ipv4_pool.clone())
                .set_ipam_pools(spec.ipam_configuration.as_ref().map(|c| {
                    elbv2::IpamPools::builder()
                        .ipv4_ipam_pool_id(&c.ipv4_ipam_pool_id)
                        .build()
                }))
                .set_enable_prefix_for_ipv6_source_nat(source_nat_switch(spec))
                .set_tags(Some(sdk_tags(&tags)))
                .send()
        })
        .await?;
    let lb = out.load_balancers().first().cloned().ok_or_else(|| {
        DeployError::invalid(
            what,
            "loadBalancerARN",
            "CreateLoadBalancer returned no load balancer",
        )
    })?;
    let arn = lb.load_balancer_arn().unwrap_or_default().to_owned();
    ctx.created(what, &arn);
    // Not a CreateLoadBalancer parameter: set on the new load balancer when it differs from
    // what AWS made.
    if let Some(wanted) = private_link_drift(spec, &desired.security_groups, &lb) {
        set_security_groups(ctx, what, &arn, &desired.security_groups, Some(wanted)).await?;
    }
    let attributes = changed_attributes(&spec.load_balancer_attributes, &BTreeMap::new());
    if !attributes.is_empty() {
        modify_attributes(ctx, what, &arn, &attributes).await?;
    }
    if let Some(capacity) = &spec.minimum_load_balancer_capacity {
        modify_capacity(ctx, what, &arn, capacity.capacity_units).await?;
    }
    Ok((arn, lb.dns_name().unwrap_or_default().to_owned()))
}

/// The source-NAT prefix switch as the SDK takes it.
fn source_nat_switch(spec: &LoadBalancerSpec) -> Option<elbv2::EnablePrefixForIpv6SourceNatEnum> {
    spec.enable_prefix_for_ipv6_source_nat
        .as_deref()
        .map(elbv2::EnablePrefixForIpv6SourceNatEnum::from)
}

/// AWS's value when a load balancer does not report its PrivateLink inbound-rules setting.
const PRIVATE_LINK_DEFAULT: &str = "on";

/// The `securityGroupsInboundRulesOnPrivateLink` value to set, when the spec names one that
/// the load balancer does not have. Only a load balancer with security groups has the setting.
fn private_link_drift<'s>(
    spec: &'s LoadBalancerSpec,
    security_groups: &[String],
    lb: &elbv2::LoadBalancer,
) -> Option<&'s str> {
    let wanted = spec
        .security_groups_inbound_rules_on_private_link
        .as_deref()?;
    if security_groups.is_empty() {
        return None;
    }
    let actual = lb
        .enforce_security_group_inbound_rules_on_private_link_traffic()
        .unwrap_or(PRIVATE_LINK_DEFAULT);
    (actual != wanted).then_some(wanted)
}

async fn set_security_groups(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    security_groups: &[String],
    private_link: Option<&str>,
) -> Result<(), DeployError> {
    ctx.mutate("SetSecurityGroups", what, || {
        ctx.clients
            .elbv2
            .set_security_groups()
            .load_balancer_arn(arn)
            .set_security_groups(Some(security_groups.to_vec()))
            .set_enforce_security_group_inbound_rules_on_private_link_traffic(
                private_link
                    .map(elbv2::EnforceSecurityGroupInboundRulesOnPrivateLinkTrafficEnum::from),
            )
            .send()
    })
    .await?;
    Ok(())
}

async fn modify_attributes(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    attributes: &[Attribute],
) -> Result<(), DeployError> {
    let attributes: Vec<elbv2::LoadBalancerAttribute> = attributes
        .iter()
        .map(|a| {
            elbv2::LoadBalancerAttribute::builder()
                .key(&a.key)
                .value(&a.value)
                .build()
        })
        .collect();
    ctx.mutate("ModifyLoadBalancerAttributes", what, || {
        ctx.clients
            .elbv2
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(attributes.clone()))
            .send()
    })
    .await?;
    Ok(())
}

async fn modify_capacity(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    capacity_units: i32,
) -> Result<(), DeployError> {
    ctx.mutate("ModifyCapacityReservation", what, || {
        ctx.clients
            .elbv2
            .modify_capacity_reservation()
            .load_balancer_arn(arn)
            .minimum_load_balancer_capacity(
                elbv2::MinimumLoadBalancerCapacity::builder()
                    .capacity_units(capacity_units)
                    .build(),
            )
            .send()
    })
    .await?;
    Ok(())
}

/// What an existing load balancer needs.
#[derive(Default)]
struct Update {
    security_groups: bool,
    /// The PrivateLink inbound-rules setting to send with `SetSecurityGroups`.
    private_link: Option<String>,
    subnets: bool,
    ip_address_type: bool,
    ipam_pools: bool,
    attributes: Vec<Attribute>,
    capacity_units: Option<i32>,
    tags: TagDiff,
    fields: Vec<FieldChange>,
}

/// Explicit source-NAT prefixes (not `auto_assigned`) of the spec that the subnet's zone
/// reports other prefixes than; a subnet reporting none is not judged.
fn source_nat_prefix_drift<'s>(
    spec: &'s LoadBalancerSpec,
    lb: &elbv2::LoadBalancer,
) -> Vec<(&'s str, &'s str)> {
    spec.subnet_mappings
        .iter()
        .filter_map(|m| {
            let prefix = m.source_nat_ipv6_prefix.as_deref()?;
            if prefix == "auto_assigned" {
                return None;
            }
            let zone = lb
                .availability_zones()
                .iter()
                .find(|az| az.subnet_id() == Some(m.subnet_id.as_str()))?;
            let reported = zone.source_nat_ipv6_prefixes();
            (!reported.is_empty() && !reported.iter().any(|p| p == prefix))
                .then_some((m.subnet_id.as_str(), prefix))
        })
        .collect()
}

/// Works out what an existing load balancer needs (reads only).
async fn plan_update(
    ctx: &Ctx<'_>,
    desired: &Desired<'_>,
    lb: &Found<elbv2::LoadBalancer>,
) -> Result<Update, DeployError> {
    let spec = desired.spec;
    let what = &desired.what;
    let arn = lb.arn.as_str();
    let mut update = Update::default();
    let fields = &mut update.fields;

    let actual_sgs: BTreeSet<&str> = lb
        .item
        .security_groups()
        .iter()
        .map(String::as_str)
        .collect();
    let wanted_sgs: BTreeSet<&str> = desired.security_groups.iter().map(String::as_str).collect();
    let network = lb.item.r#type().map(|t| t.as_str()) == Some(LoadBalancerType::Network.as_str());
    if !wanted_sgs.is_empty() && actual_sgs != wanted_sgs {
        if network && actual_sgs.is_empty() {
            // AWS refuses security groups on an NLB created without them; the model keeps
            // such an NLB without. Nothing to do that AWS would take.
            tracing::warn!(
                stack = ctx.stack_id,
                load_balancer = arn,
                "the network load balancer was created without security groups and cannot get any; left as it is"
            );
        } else {
            update.security_groups = true;
            fields.push(set_change("securityGroups", &actual_sgs, &wanted_sgs));
        }
    }
    if !(network && actual_sgs.is_empty())
        && let Some(wanted) = private_link_drift(spec, &desired.security_groups, &lb.item)
    {
        update.security_groups = true;
        update.private_link = Some(wanted.to_owned());
        fields.push(FieldChange::new(
            "securityGroupsInboundRulesOnPrivateLink",
            lb.item
                .enforce_security_group_inbound_rules_on_private_link_traffic()
                .map(str::to_owned),
            Some(wanted.to_owned()),
        ));
    }

    let actual_subnets: BTreeSet<&str> = lb
        .item
        .availability_zones()
        .iter()
        .filter_map(|az| az.subnet_id())
        .collect();
    let wanted_subnets: BTreeSet<&str> = spec
        .subnet_mappings
        .iter()
        .map(|m| m.subnet_id.as_str())
        .collect();
    if !wanted_subnets.is_empty() && actual_subnets != wanted_subnets {
        update.subnets = true;
        fields.push(set_change("subnets", &actual_subnets, &wanted_subnets));
    }
    if let Some(wanted) = spec.enable_prefix_for_ipv6_source_nat.as_deref() {
        // An NLB that does not report the switch has it off.
        let actual = lb
            .item
            .enable_prefix_for_ipv6_source_nat()
            .map_or("off", |v| v.as_str());
        if actual != wanted {
            update.subnets = true;
            fields.push(FieldChange::values(
                "enablePrefixForIpv6SourceNat",
                actual,
                wanted,
            ));
        }
    }
    for (subnet, prefix) in source_nat_prefix_drift(spec, &lb.item) {
        update.subnets = true;
        fields.push(FieldChange::new(
            format!("subnetMapping.{subnet}.sourceNatIpv6Prefix"),
            None,
            Some(prefix.to_owned()),
        ));
    }

    if let Some(actual) = lb.item.ip_address_type()
        && actual.as_str() != spec.ip_address_type.as_str()
    {
        update.ip_address_type = true;
        fields.push(FieldChange::values(
            "ipAddressType",
            actual.as_str(),
            spec.ip_address_type.as_str(),
        ));
    }

    if let Some(ipam) = &spec.ipam_configuration {
        let actual = lb.item.ipam_pools().and_then(|p| p.ipv4_ipam_pool_id());
        if actual != Some(ipam.ipv4_ipam_pool_id.as_str()) {
            update.ipam_pools = true;
            fields.push(FieldChange::new(
                "ipamPools.ipv4IpamPoolId",
                actual.map(str::to_owned),
                Some(ipam.ipv4_ipam_pool_id.clone()),
            ));
        }
    }

    if !spec.load_balancer_attributes.is_empty() {
        let out = ctx
            .read("DescribeLoadBalancerAttributes", what, || {
                ctx.clients
                    .elbv2
                    .describe_load_balancer_attributes()
                    .load_balancer_arn(arn)
                    .send()
            })
            .await?;
        let actual: BTreeMap<String, String> = out
            .attributes()
            .iter()
            .filter_map(|a| {
                Some((
                    a.key()?.to_owned(),
                    a.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect();
        update.attributes = changed_attributes(&spec.load_balancer_attributes, &actual);
        fields.extend(attribute_fields(&update.attributes, &actual));
    }

    if let Some(capacity) = &spec.minimum_load_balancer_capacity {
        let out = ctx
            .read("DescribeCapacityReservation", what, || {
                ctx.clients
                    .elbv2
                    .describe_capacity_reservation()
                    .load_balancer_arn(arn)
                    .send()
            })
            .await?;
        let actual = out
            .minimum_load_balancer_capacity()
            .and_then(|c| c.capacity_units());
        if actual != Some(capacity.capacity_units) {
            update.capacity_units = Some(capacity.capacity_units);
            fields.push(FieldChange::new(
                "minimumLoadBalancerCapacity.capacityUnits",
                actual.map(|a| a.to_string()),
                Some(capacity.capacity_units.to_string()),
            ));
        }
    }

    let tags = ctx.desired_tags(&spec.tags, desired.id);
    update.tags = diff_tags(&tags, &lb.tags, &ctx.config.external_managed_tags);
    update.fields.extend(tag_fields(&update.tags, &lb.tags));
    Ok(update)
}

async fn apply_update(
    ctx: &Ctx<'_>,
    desired: &Desired<'_>,
    arn: &str,
    update: &Update,
) -> Result<(), DeployError> {
    let spec = desired.spec;
    let what = &desired.what;
    if update.security_groups {
        set_security_groups(
            ctx,
            what,
            arn,
            &desired.security_groups,
            update.private_link.as_deref().or(spec
                .security_groups_inbound_rules_on_private_link
                .as_deref()),
        )
        .await?;
    }
    if update.subnets {
        ctx.mutate("SetSubnets", what, || {
            ctx.clients
                .elbv2
                .set_subnets()
                .load_balancer_arn(arn)
                .set_subnet_mappings(Some(subnet_mappings(spec)))
                .set_enable_prefix_for_ipv6_source_nat(source_nat_switch(spec))
                .send()
        })
        .await?;
    }
    if update.ip_address_type {
        ctx.mutate("SetIpAddressType", what, || {
            ctx.clients
                .elbv2
                .set_ip_address_type()
                .load_balancer_arn(arn)
                .ip_address_type(elbv2::IpAddressType::from(spec.ip_address_type.as_str()))
                .send()
        })
        .await?;
    }
    if update.ipam_pools
        && let Some(ipam) = &spec.ipam_configuration
    {
        ctx.mutate("ModifyIpPools", what, || {
            ctx.clients
                .elbv2
                .modify_ip_pools()
                .load_balancer_arn(arn)
                .ipam_pools(
                    elbv2::IpamPools::builder()
                        .ipv4_ipam_pool_id(&ipam.ipv4_ipam_pool_id)
                        .build(),
                )
                .send()
        })
        .await?;
    }
    if !update.attributes.is_empty() {
        modify_attributes(ctx, what, arn, &update.attributes).await?;
    }
    if let Some(units) = update.capacity_units {
        modify_capacity(ctx, what, arn, units).await?;
    }
    apply_tags(ctx, what, arn, &update.tags).await?;
    if !update.fields.is_empty() {
        ctx.modified(what, arn);
    }
    Ok(())
}

const DELETION_PROTECTION: &str = "deletion_protection.enabled";

/// Whether AWS refused a deletion because the load balancer has deletion protection on.
fn protected(err: &DeployError) -> bool {
    match err {
        DeployError::Aws { code, message, .. } => {
            code == "OperationNotPermitted"
                && message.to_ascii_lowercase().contains("deletion protection")
        }
        _ => false,
    }
}

async fn delete_one(ctx: &Ctx<'_>, lb: &Found<elbv2::LoadBalancer>) -> Result<(), DeployError> {
    if !ctx.owns(&lb.tags) {
        return Ok(());
    }
    let what = lb.resource_ref(ctx.kind, ResourceType::LoadBalancer);
    ctx.decided(ResourceDiff::delete(&what, &lb.arn));
    if ctx.dry_run() {
        return Ok(());
    }
    let delete = || {
        ctx.mutate("DeleteLoadBalancer", &what, || {
            ctx.clients
                .elbv2
                .delete_load_balancer()
                .load_balancer_arn(&lb.arn)
                .send()
        })
    };
    let result = match delete().await {
        // Protection switched on outside the stack (a stack that asks for it is never
        // emptied: the model refuses): switched off, as upstream does, then deleted.
        Err(err) if protected(&err) => {
            let off = Attribute {
                key: DELETION_PROTECTION.to_owned(),
                value: "false".to_owned(),
            };
            modify_attributes(ctx, &what, &lb.arn, std::slice::from_ref(&off)).await?;
            delete().await
        }
        other => other,
    };
    match result {
        Ok(_) => {
            ctx.deleted(&what, &lb.arn);
            Ok(())
        }
        Err(err) if err.category() == ErrorCategory::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Deletes load balancers of ours (their listeners and rules go with them).
pub async fn delete(
    ctx: &Ctx<'_>,
    load_balancers: Vec<Found<elbv2::LoadBalancer>>,
) -> Result<(), DeployError> {
    for lb in &load_balancers {
        delete_one(ctx, lb).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::stack::{IpAddressType, Scheme, SubnetMapping};

    fn spec() -> LoadBalancerSpec {
        LoadBalancerSpec {
            name: "k8s-ns-svc-0123456789".into(),
            load_balancer_type: LoadBalancerType::Network,
            scheme: Scheme::Internal,
            ip_address_type: IpAddressType::Dualstack,
            subnet_mappings: ["subnet-a", "subnet-b"]
                .into_iter()
                .map(|s| SubnetMapping {
                    subnet_id: s.into(),
                    allocation_id: None,
                    private_ipv4_address: None,
                    ipv6_address: None,
                    source_nat_ipv6_prefix: None,
                })
                .collect(),
            security_groups: vec![],
            customer_owned_ipv4_pool: None,
            ipam_configuration: None,
            minimum_load_balancer_capacity: None,
            enable_prefix_for_ipv6_source_nat: None,
            security_groups_inbound_rules_on_private_link: None,
            load_balancer_attributes: vec![],
            tags: BTreeMap::new(),
        }
    }

    fn zone(subnet: &str, prefixes: &[&str]) -> elbv2::AvailabilityZone {
        prefixes
            .iter()
            .fold(
                elbv2::AvailabilityZone::builder().subnet_id(subnet),
                |b, p| b.source_nat_ipv6_prefixes(*p),
            )
            .build()
    }

    #[test]
    fn the_private_link_setting_is_judged_against_aws_default() {
        let sgs = vec!["sg-1".to_owned()];
        let unreported = elbv2::LoadBalancer::builder().build();
        let mut wanted = spec();
        assert_eq!(private_link_drift(&wanted, &sgs, &unreported), None);
        wanted.security_groups_inbound_rules_on_private_link = Some("on".into());
        assert_eq!(private_link_drift(&wanted, &sgs, &unreported), None);
        wanted.security_groups_inbound_rules_on_private_link = Some("off".into());
        assert_eq!(private_link_drift(&wanted, &sgs, &unreported), Some("off"));
        let off = elbv2::LoadBalancer::builder()
            .enforce_security_group_inbound_rules_on_private_link_traffic("off")
            .build();
        assert_eq!(private_link_drift(&wanted, &sgs, &off), None);
        // Without security groups there is no such setting.
        assert_eq!(private_link_drift(&wanted, &[], &unreported), None);
    }

    #[test]
    fn only_explicit_source_nat_prefixes_a_subnet_reports_otherwise_drift() {
        let mut wanted = spec();
        wanted.subnet_mappings[0].source_nat_ipv6_prefix = Some("2600:1f14:0:1::/80".into());
        wanted.subnet_mappings[1].source_nat_ipv6_prefix = Some("auto_assigned".into());
        let same = elbv2::LoadBalancer::builder()
            .availability_zones(zone("subnet-a", &["2600:1f14:0:1::/80"]))
            .availability_zones(zone("subnet-b", &["2600:1f14:0:2::/80"]))
            .build();
        assert!(source_nat_prefix_drift(&wanted, &same).is_empty());
        let other = elbv2::LoadBalancer::builder()
            .availability_zones(zone("subnet-a", &["2600:1f14:0:9::/80"]))
            .availability_zones(zone("subnet-b", &[]))
            .build();
        assert_eq!(
            source_nat_prefix_drift(&wanted, &other),
            [("subnet-a", "2600:1f14:0:1::/80")]
        );
        // A subnet that reports no prefix is not judged.
        let unreported = elbv2::LoadBalancer::builder()
            .availability_zones(zone("subnet-a", &[]))
            .build();
        assert!(source_nat_prefix_drift(&wanted, &unreported).is_empty());
    }

    const PROTECTED: &str = "<ErrorResponse><Error><Type>Sender</Type>\
        <Code>OperationNotPermitted</Code><Message>Load balancer 'arn:lb' cannot be deleted \
        because deletion protection is enabled</Message></Error><RequestId>1</RequestId>\
        </ErrorResponse>";
    const MODIFIED: &str = "<ModifyLoadBalancerAttributesResponse>\
        <ModifyLoadBalancerAttributesResult><Attributes/></ModifyLoadBalancerAttributesResult>\
        </ModifyLoadBalancerAttributesResponse>";
    const DELETED: &str =
        "<DeleteLoadBalancerResponse><DeleteLoadBalancerResult/></DeleteLoadBalancerResponse>";

    #[tokio::test]
    async fn a_protected_load_balancer_is_unprotected_then_deleted() {
        let http = crate::canned_http::Scripted::answering(vec![
            (400, PROTECTED),
            (200, MODIFIED),
            (200, DELETED),
        ]);
        let sdk = crate::canned_http::CannedHttp::sdk_config(http.clone());
        let clients = crate::AwsClients::new(&sdk, &[]);
        let config = crate::DeployConfig::new("c1", "vpc-1");
        let ctx = Ctx::new(
            &clients,
            &config,
            StackKind::Service,
            "ns/svc",
            crate::call::Mode::Apply,
            None,
        );
        let found = Found {
            item: elbv2::LoadBalancer::builder()
                .load_balancer_arn("arn:lb")
                .build(),
            arn: "arn:lb".to_owned(),
            tags: ctx.desired_tags(&BTreeMap::new(), "LoadBalancer"),
        };
        delete(&ctx, vec![found]).await.unwrap();
        let bodies = http.bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), 3, "{bodies:?}");
        assert!(
            bodies[0].contains("Action=DeleteLoadBalancer"),
            "{bodies:?}"
        );
        assert!(
            bodies[1].contains("Action=ModifyLoadBalancerAttributes")
                && bodies[1].contains("deletion_protection.enabled")
                && bodies[1].contains("Value=false"),
            "{bodies:?}"
        );
        assert!(
            bodies[2].contains("Action=DeleteLoadBalancer"),
            "{bodies:?}"
        );
        let (changes, _) = ctx.finish();
        assert_eq!(changes.deleted.len(), 1);
    }

    #[test]
    fn type_and_scheme_force_a_replacement() {
        let wanted = spec();
        let same = elbv2::LoadBalancer::builder()
            .r#type(elbv2::LoadBalancerTypeEnum::Network)
            .scheme(elbv2::LoadBalancerSchemeEnum::Internal)
            .build();
        assert!(!needs_replacement(&wanted, &same));
        let public = elbv2::LoadBalancer::builder()
            .r#type(elbv2::LoadBalancerTypeEnum::Network)
            .scheme(elbv2::LoadBalancerSchemeEnum::InternetFacing)
            .build();
        assert_eq!(
            replacement(&wanted, &public),
            Some(FieldChange::values("scheme", "internet-facing", "internal"))
        );
        let alb = elbv2::LoadBalancer::builder()
            .r#type(elbv2::LoadBalancerTypeEnum::Application)
            .scheme(elbv2::LoadBalancerSchemeEnum::Internal)
            .build();
        assert!(needs_replacement(&wanted, &alb));
    }
}
