//! Target groups: create with tags, replace when an immutable field changes, reconcile health
//! checks, attributes and tags, delete once no rule or listener forwards to them. Each existing
//! target group's needs are worked out first ([`plan_update`]), then applied (not in a dry run).
//!
//! What forces a replacement depends on the stack's kind. An IngressGroup's target group is
//! replaced when any field it cannot change differs, its name included. A Service's (NLB) is
//! replaced, as upstream, only when its target type or protocol differ (and, beyond upstream,
//! when its VPC or address family differ, which it could not serve): its name and port are
//! never compared, so a health-check interval change, which changes the name upstream's hash
//! gives a new target group, is a `ModifyTargetGroup` of the existing one.
//!
//! A frontend NLB's target groups have target type `alb` (protocol TCP, in the cluster's VPC,
//! with an HTTP or HTTPS health check); the ALB registered in them is reconciled once the load
//! balancers and listeners exist ([`alb_targets`](super::alb_targets)).
//!
//! Health checks are sent and compared in their effective form: a TCP health check (named, or
//! the default of a TCP, UDP, TCP_UDP, TLS, QUIC or TCP_QUIC target group) has no path and no
//! matcher, which AWS refuses there. `HealthCheckEnabled=true` goes with every health check set.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types as elbv2;

use model::stack::{
    Attribute, HealthCheckConfig, Protocol, ProtocolVersion, ResourceType, Stack, StackKind,
    TargetGroupSpec, int_or_string,
};

use super::call::Ctx;
use super::convert::sdk_tags;
use super::diff::{FieldChange, ResourceDiff};
use super::discover::{Found, elbv2_tags};
use super::elbv2_tags::apply_tags;
use super::error::{DeployError, ErrorCategory, ResourceRef};
use super::fields::{attribute_fields, health_check_changes, tag_fields};
use super::normal::changed_attributes;
use super::resolve::{Resolver, TG_ARN};
use super::tags::{TagDiff, diff_tags};

const RESOURCE_IN_USE: &str = "ResourceInUse";
/// AWS's answer to a `CreateTargetGroup` whose name is taken by a target group with other
/// settings.
const DUPLICATE_NAME: &str = "DuplicateTargetGroupName";

/// An immutable field in which an existing target group differs from the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    pub field: &'static str,
    pub actual: String,
    pub wanted: String,
}

impl Replacement {
    fn new(field: &'static str, actual: impl ToString, wanted: impl ToString) -> Option<Self> {
        Some(Self {
            field,
            actual: actual.to_string(),
            wanted: wanted.to_string(),
        })
    }

    /// The change as a create that replaces an existing resource reports it.
    pub fn change(&self) -> FieldChange {
        FieldChange::values(self.field, &self.actual, &self.wanted)
    }
}

/// The first immutable field in which an existing target group differs from the spec (so it
/// must be replaced), if any. Fields AWS did not report are not held against it. A Service's
/// target group is not judged by its name or port (see the module documentation).
pub fn replacement(
    kind: StackKind,
    spec: &TargetGroupSpec,
    tg: &elbv2::TargetGroup,
    vpc_id: &str,
) -> Option<Replacement> {
    let by_name_and_port = kind == StackKind::Ingress;
    let name = tg.target_group_name().unwrap_or_default();
    if by_name_and_port && name != spec.name {
        return Replacement::new("name", name, &spec.name);
    }
    if let Some(t) = tg.target_type()
        && t.as_str() != spec.target_type.as_str()
    {
        return Replacement::new("targetType", t.as_str(), spec.target_type);
    }
    if let Some(p) = tg.protocol()
        && p.as_str() != spec.protocol.as_str()
    {
        return Replacement::new("protocol", p.as_str(), spec.protocol);
    }
    if let Some(p) = tg.port()
        && by_name_and_port
        && p != spec.port
    {
        return Replacement::new("port", p, spec.port);
    }
    if let Some(v) = tg.vpc_id()
        && v != vpc_id
    {
        return Replacement::new("vpcID", v, vpc_id);
    }
    if let Some(version) = spec.protocol_version {
        let actual = tg
            .protocol_version()
            .unwrap_or(ProtocolVersion::Http1.as_str());
        if actual != version.as_str() {
            return Replacement::new("protocolVersion", actual, version);
        }
    }
    if let Some(family) = spec.ip_address_type {
        let actual = tg.ip_address_type().map(|t| t.as_str()).unwrap_or("ipv4");
        if actual != family.as_str() {
            return Replacement::new("ipAddressType", actual, family);
        }
    }
    if let Some(port) = spec.target_control_port
        && tg.target_control_port() != Some(port)
    {
        let actual = tg
            .target_control_port()
            .map(|p| p.to_string())
            .unwrap_or_default();
        return Replacement::new("targetControlPort", actual, port);
    }
    None
}

/// The name of the first immutable field that forces a replacement, if any.
pub fn replacement_reason(
    kind: StackKind,
    spec: &TargetGroupSpec,
    tg: &elbv2::TargetGroup,
    vpc_id: &str,
) -> Option<&'static str> {
    replacement(kind, spec, tg, vpc_id).map(|r| r.field)
}

/// Whether the target group's health check is a plain TCP one: named so, or left to the
/// default of a target group of a layer-4 protocol.
fn tcp_health_check(spec: &TargetGroupSpec, hc: &HealthCheckConfig) -> bool {
    match hc.protocol {
        Some(p) => p == Protocol::Tcp,
        None => matches!(
            spec.protocol,
            Protocol::Tcp
                | Protocol::Udp
                | Protocol::TcpUdp
                | Protocol::Tls
                | Protocol::Quic
                | Protocol::TcpQuic
        ),
    }
}

/// The health check as it is sent and compared: without a path or matcher when it is a TCP
/// one (AWS refuses them there, and reports none).
pub fn effective_health_check(spec: &TargetGroupSpec) -> Option<HealthCheckConfig> {
    let mut hc = spec.health_check_config.clone()?;
    if tcp_health_check(spec, &hc) {
        hc.path = None;
        hc.matcher = None;
    }
    Some(hc)
}

fn sdk_matcher(hc: &HealthCheckConfig) -> Option<elbv2::Matcher> {
    hc.matcher.as_ref().map(|m| {
        elbv2::Matcher::builder()
            .set_http_code(m.http_code.clone())
            .set_grpc_code(m.grpc_code.clone())
            .build()
    })
}

/// Brings the stack's target groups in line (in a dry run: records what that takes). Returns
/// their ARNs by resource ID and the target groups to delete once nothing forwards to them.
///
/// A missing target group is created without looking for it by name first: AWS answers a
/// `CreateTargetGroup` whose name exists with the same settings with that target group, and
/// with `DuplicateTargetGroupName` otherwise, which sends us to [`find_by_name`]. What the
/// creations returned is then confirmed ours by its tags, all in one `DescribeTags` per 20,
/// before anything is changed on it: one call for the stack instead of one lookup per target
/// group.
pub async fn sync(
    ctx: &Ctx<'_>,
    stack: &Stack,
    mut found: Vec<Found<elbv2::TargetGroup>>,
    resolver: &mut Resolver,
) -> Result<(BTreeMap<String, String>, Vec<Found<elbv2::TargetGroup>>), DeployError> {
    let mut arns = BTreeMap::new();
    let mut extras = Vec::new();
    let mut created = Vec::new();
    let vpc_id = ctx.config.vpc_id.as_str();
    for (id, resource) in &stack.resources.target_groups {
        let spec = &resource.spec;
        let what = ResourceRef::new(ResourceType::TargetGroup, id.as_str());
        let (mut candidates, rest): (Vec<_>, Vec<_>) = found
            .into_iter()
            .partition(|f| ctx.resource_id(&f.tags) == Some(id.as_str()));
        found = rest;
        let current = candidates
            .iter()
            .position(|f| replacement(ctx.kind, spec, &f.item, vpc_id).is_none())
            .map(|i| candidates.remove(i));
        let replacing: Vec<FieldChange> = candidates
            .first()
            .and_then(|c| replacement(ctx.kind, spec, &c.item, vpc_id))
            .map(|r| r.change())
            .into_iter()
            .collect();
        // Replaced ones go once the rules point at the new one.
        extras.extend(candidates);
        let current = match current {
            Some(tg) => Some(tg),
            // A dry run cannot try the creation: it looks.
            None if ctx.dry_run() => find_by_name(ctx, id, spec, &what).await?,
            None => None,
        };
        let arn = match current {
            Some(tg) => sync_existing(ctx, id, spec, &what, tg).await?,
            None => match ctx.deciding_create(&what, replacing) {
                Some(placeholder) => placeholder,
                None => match create(ctx, id, spec, &what).await? {
                    Some(arn) => {
                        created.push((id.as_str(), spec, what, arn.clone()));
                        arn
                    }
                    None => {
                        let tg = find_by_name(ctx, id, spec, &what).await?.ok_or_else(|| {
                            DeployError::invalid(
                                &what,
                                "name",
                                format!(
                                    "target group {} is reported to exist but cannot be found",
                                    spec.name
                                ),
                            )
                        })?;
                        sync_existing(ctx, id, spec, &what, tg).await?
                    }
                },
            },
        };
        resolver.set(ResourceType::TargetGroup, id, TG_ARN, arn.clone());
        arns.insert(id.clone(), arn);
    }
    confirm_created(ctx, &created).await?;
    for (_, spec, what, arn) in &created {
        if !spec.target_group_attributes.is_empty() {
            let attributes = changed_attributes(&spec.target_group_attributes, &BTreeMap::new());
            modify_attributes(ctx, what, arn, &attributes).await?;
        }
    }
    extras.extend(found);
    Ok((arns, extras))
}

/// Brings an existing target group of ours in line; returns its ARN.
async fn sync_existing(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &TargetGroupSpec,
    what: &ResourceRef,
    tg: Found<elbv2::TargetGroup>,
) -> Result<String, DeployError> {
    let update = plan_update(ctx, id, spec, what, &tg).await?;
    ctx.decided(ResourceDiff::existing(what, &tg.arn, update.fields.clone()));
    if !ctx.dry_run() {
        apply_update(ctx, what, &tg.arn, &update).await?;
    }
    Ok(tg.arn)
}

/// Confirms by their tags that the target groups `CreateTargetGroup` answered with are ours:
/// AWS answers with an existing target group of the same name and settings, which may be
/// anyone's. Nothing has been changed on them yet.
async fn confirm_created(
    ctx: &Ctx<'_>,
    created: &[(&str, &TargetGroupSpec, ResourceRef, String)],
) -> Result<(), DeployError> {
    let Some((_, _, first, _)) = created.first() else {
        return Ok(());
    };
    let arns: Vec<String> = created.iter().map(|(_, _, _, arn)| arn.clone()).collect();
    let mut tags = elbv2_tags(ctx, first, &arns).await?;
    for (id, spec, what, arn) in created {
        let tags = tags.remove(arn).unwrap_or_default();
        if !ctx.owns(&tags) || ctx.resource_id(&tags) != Some(*id) {
            return Err(DeployError::NotOwned {
                resource: what.clone(),
                existing: format!("target group {} ({arn})", spec.name),
                cluster: ctx.config.cluster_name.clone(),
                stack: ctx.stack_id.to_owned(),
            });
        }
    }
    Ok(())
}

/// Finds a target group by name before creating one: a leftover of an interrupted run is
/// adopted, anyone else's is refused.
async fn find_by_name(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &TargetGroupSpec,
    what: &ResourceRef,
) -> Result<Option<Found<elbv2::TargetGroup>>, DeployError> {
    let existing = ctx
        .read("DescribeTargetGroups", what, || {
            ctx.clients
                .elbv2
                .describe_target_groups()
                .names(&spec.name)
                .send()
        })
        .await;
    let tg = match existing {
        Ok(out) => match out.target_groups().first() {
            Some(tg) => tg.clone(),
            None => return Ok(None),
        },
        Err(err) if err.category() == ErrorCategory::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let arn = tg.target_group_arn().unwrap_or_default().to_owned();
    let tags = elbv2_tags(ctx, what, std::slice::from_ref(&arn))
        .await?
        .remove(&arn)
        .unwrap_or_default();
    if !ctx.owns(&tags) || ctx.resource_id(&tags) != Some(id) {
        return Err(DeployError::NotOwned {
            resource: what.clone(),
            existing: format!("target group {} ({arn})", spec.name),
            cluster: ctx.config.cluster_name.clone(),
            stack: ctx.stack_id.to_owned(),
        });
    }
    if let Some(field) = replacement_reason(ctx.kind, spec, &tg, &ctx.config.vpc_id) {
        return Err(DeployError::invalid(
            what,
            field,
            format!(
                "target group {} already exists with a different {field}",
                spec.name
            ),
        ));
    }
    Ok(Some(Found {
        item: tg,
        arn,
        tags,
    }))
}

/// Creates the target group (with its tags); returns its ARN, or `None` when another target
/// group has its name (`DuplicateTargetGroupName`). Its attributes are set once it is confirmed
/// ours ([`sync`]).
async fn create(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &TargetGroupSpec,
    what: &ResourceRef,
) -> Result<Option<String>, DeployError> {
    let tags = ctx.desired_tags(&spec.tags, id);
    let configured = effective_health_check(spec);
    let health_check_enabled = configured.is_some().then_some(true);
    let hc = configured.unwrap_or(HealthCheckConfig {
        port: None,
        protocol: None,
        path: None,
        matcher: None,
        interval_seconds: None,
        timeout_seconds: None,
        healthy_threshold_count: None,
        unhealthy_threshold_count: None,
    });
    let out = ctx
        .mutate("CreateTargetGroup", what, || {
            ctx.clients
                .elbv2
                .create_target_group()
                .name(&spec.name)
                .target_type(elbv2::TargetTypeEnum::from(spec.target_type.as_str()))
                .protocol(elbv2::ProtocolEnum::from(spec.protocol.as_str()))
                .set_protocol_version(spec.protocol_version.map(|v| v.as_str().to_owned()))
                .port(spec.port)
                .vpc_id(&ctx.config.vpc_id)
                .set_ip_address_type(
                    spec.ip_address_type
                        .map(|t| elbv2::TargetGroupIpAddressTypeEnum::from(t.as_str())),
                )
                .set_health_check_enabled(health_check_enabled)
                .set_health_check_port(hc.port.as_ref().map(int_or_string))
                .set_health_check_protocol(
                    hc.protocol.map(|p| elbv2::ProtocolEnum::from(p.as_str())),
                )
                .set_health_check_path(hc.path.clone())
                .set_health_check_interval_seconds(hc.interval_seconds)
                .set_health_check_timeout_seconds(hc.timeout_seconds)
                .set_healthy_threshold_count(hc.healthy_threshold_count)
                .set_unhealthy_threshold_count(hc.unhealthy_threshold_count)
                .set_matcher(sdk_matcher(&hc))
                .set_target_control_port(spec.target_control_port)
                .set_tags(Some(sdk_tags(&tags)))
                .send()
        })
        .await;
    let out = match out {
        Ok(out) => out,
        Err(err) if err.code() == Some(DUPLICATE_NAME) => return Ok(None),
        Err(err) => return Err(err),
    };
    let tg = out.target_groups().first().cloned().ok_or_else(|| {
        DeployError::invalid(
            what,
            "targetGroupARN",
            "CreateTargetGroup returned no target group",
        )
    })?;
    let arn = tg.target_group_arn().unwrap_or_default().to_owned();
    ctx.created(what, &arn);
    Ok(Some(arn))
}

async fn modify_attributes(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    attributes: &[Attribute],
) -> Result<(), DeployError> {
    let attributes: Vec<elbv2::TargetGroupAttribute> = attributes
        .iter()
        .map(|a| {
            elbv2::TargetGroupAttribute::builder()
                .key(&a.key)
                .value(&a.value)
                .build()
        })
        .collect();
    ctx.mutate("ModifyTargetGroupAttributes", what, || {
        ctx.clients
            .elbv2
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .set_attributes(Some(attributes.clone()))
            .send()
    })
    .await?;
    Ok(())
}

/// What an existing target group needs.
struct Update {
    /// The health check to set, when it drifted.
    health_check: Option<HealthCheckConfig>,
    attributes: Vec<Attribute>,
    tags: TagDiff,
    fields: Vec<FieldChange>,
}

/// Works out what an existing target group needs (reads only).
async fn plan_update(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &TargetGroupSpec,
    what: &ResourceRef,
    tg: &Found<elbv2::TargetGroup>,
) -> Result<Update, DeployError> {
    let mut fields = Vec::new();
    let mut health_check = None;
    if let Some(hc) = effective_health_check(spec) {
        let mut changes = health_check_changes(&hc, &tg.item);
        if tg.item.health_check_enabled() == Some(false) {
            changes.insert(
                0,
                FieldChange::values("healthCheckEnabled", "false", "true"),
            );
        }
        if !changes.is_empty() {
            health_check = Some(hc);
            fields.extend(changes);
        }
    }
    let mut attributes = Vec::new();
    if !spec.target_group_attributes.is_empty() {
        let out = ctx
            .read("DescribeTargetGroupAttributes", what, || {
                ctx.clients
                    .elbv2
                    .describe_target_group_attributes()
                    .target_group_arn(&tg.arn)
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
        attributes = changed_attributes(&spec.target_group_attributes, &actual);
        fields.extend(attribute_fields(&attributes, &actual));
    }
    let desired = ctx.desired_tags(&spec.tags, id);
    let tags = diff_tags(&desired, &tg.tags, &ctx.config.external_managed_tags);
    fields.extend(tag_fields(&tags, &tg.tags));
    Ok(Update {
        health_check,
        attributes,
        tags,
        fields,
    })
}

async fn apply_update(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    update: &Update,
) -> Result<(), DeployError> {
    if let Some(hc) = &update.health_check {
        ctx.mutate("ModifyTargetGroup", what, || {
            ctx.clients
                .elbv2
                .modify_target_group()
                .target_group_arn(arn)
                .health_check_enabled(true)
                .set_health_check_port(hc.port.as_ref().map(int_or_string))
                .set_health_check_protocol(
                    hc.protocol.map(|p| elbv2::ProtocolEnum::from(p.as_str())),
                )
                .set_health_check_path(hc.path.clone())
                .set_health_check_interval_seconds(hc.interval_seconds)
                .set_health_check_timeout_seconds(hc.timeout_seconds)
                .set_healthy_threshold_count(hc.healthy_threshold_count)
                .set_unhealthy_threshold_count(hc.unhealthy_threshold_count)
                .set_matcher(sdk_matcher(hc))
                .send()
        })
        .await?;
    }
    if !update.attributes.is_empty() {
        modify_attributes(ctx, what, arn, &update.attributes).await?;
    }
    apply_tags(ctx, what, arn, &update.tags).await?;
    if !update.fields.is_empty() {
        ctx.modified(what, arn);
    }
    Ok(())
}

/// Deletes target groups of ours, waiting while a load balancer that is going away still
/// holds them.
pub async fn delete(
    ctx: &Ctx<'_>,
    target_groups: Vec<Found<elbv2::TargetGroup>>,
) -> Result<(), DeployError> {
    for tg in target_groups {
        if !ctx.owns(&tg.tags) {
            continue;
        }
        let what = tg.resource_ref(ctx.kind, ResourceType::TargetGroup);
        ctx.decided(ResourceDiff::delete(&what, &tg.arn));
        if ctx.dry_run() {
            continue;
        }
        let result = ctx
            .mutate_until_free(
                "DeleteTargetGroup",
                &what,
                &[RESOURCE_IN_USE],
                ctx.config.target_group_delete_timeout,
                ctx.config.in_use_retry_interval,
                || {
                    ctx.clients
                        .elbv2
                        .delete_target_group()
                        .target_group_arn(&tg.arn)
                        .send()
                },
            )
            .await;
        match result {
            Ok(_) => ctx.deleted(&what, &tg.arn),
            Err(err) if err.category() == ErrorCategory::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
