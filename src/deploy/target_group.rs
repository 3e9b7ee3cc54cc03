//! Target groups: create with tags, replace when an immutable field changes, reconcile health
//! checks, attributes and tags, delete once no rule or listener forwards to them.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types as elbv2;

use crate::model::stack::{
    HealthCheckConfig, ProtocolVersion, ResourceType, Stack, TargetGroupSpec, int_or_string,
};

use super::call::Ctx;
use super::convert::sdk_tags;
use super::discover::{Found, elbv2_tags};
use super::elbv2_tags::sync_tags;
use super::error::{DeployError, ErrorCategory, ResourceRef};
use super::normal::changed_attributes;
use super::resolve::{Resolver, TG_ARN};
use super::tags::{desired_tags, is_owned, resource_id};

const RESOURCE_IN_USE: &str = "ResourceInUse";

/// The first immutable field in which an existing target group differs from the spec (so it
/// must be replaced), if any. Fields AWS did not report are not held against it.
pub fn replacement_reason(
    spec: &TargetGroupSpec,
    tg: &elbv2::TargetGroup,
    vpc_id: &str,
) -> Option<&'static str> {
    let differs = |actual: Option<&str>, wanted: &str| actual.is_some_and(|a| a != wanted);
    if tg.target_group_name() != Some(spec.name.as_str()) {
        return Some("name");
    }
    if differs(
        tg.target_type().map(|t| t.as_str()),
        spec.target_type.as_str(),
    ) {
        return Some("targetType");
    }
    if differs(tg.protocol().map(|p| p.as_str()), spec.protocol.as_str()) {
        return Some("protocol");
    }
    if tg.port().is_some_and(|p| p != spec.port) {
        return Some("port");
    }
    if differs(tg.vpc_id(), vpc_id) {
        return Some("vpcID");
    }
    if let Some(version) = spec.protocol_version {
        let actual = tg
            .protocol_version()
            .unwrap_or(ProtocolVersion::Http1.as_str());
        if actual != version.as_str() {
            return Some("protocolVersion");
        }
    }
    if let Some(family) = spec.ip_address_type {
        let actual = tg.ip_address_type().map(|t| t.as_str()).unwrap_or("ipv4");
        if actual != family.as_str() {
            return Some("ipAddressType");
        }
    }
    if let Some(port) = spec.target_control_port
        && tg.target_control_port() != Some(port)
    {
        return Some("targetControlPort");
    }
    None
}

/// Whether a health-check setting the spec names differs from AWS's.
pub fn health_check_drifted(hc: &HealthCheckConfig, tg: &elbv2::TargetGroup) -> bool {
    fn differs<T: PartialEq>(wanted: Option<T>, actual: Option<T>) -> bool {
        wanted.is_some() && wanted != actual
    }
    let matcher = tg.matcher();
    differs(
        hc.port.as_ref().map(int_or_string).as_deref(),
        tg.health_check_port(),
    ) || differs(
        hc.protocol.map(|p| p.as_str()),
        tg.health_check_protocol().map(|p| p.as_str()),
    ) || differs(hc.path.as_deref(), tg.health_check_path())
        || differs(hc.interval_seconds, tg.health_check_interval_seconds())
        || differs(hc.timeout_seconds, tg.health_check_timeout_seconds())
        || differs(hc.healthy_threshold_count, tg.healthy_threshold_count())
        || differs(hc.unhealthy_threshold_count, tg.unhealthy_threshold_count())
        || hc.matcher.as_ref().is_some_and(|m| {
            differs(m.http_code.as_deref(), matcher.and_then(|x| x.http_code()))
                || differs(m.grpc_code.as_deref(), matcher.and_then(|x| x.grpc_code()))
        })
}

fn sdk_matcher(hc: &HealthCheckConfig) -> Option<elbv2::Matcher> {
    hc.matcher.as_ref().map(|m| {
        elbv2::Matcher::builder()
            .set_http_code(m.http_code.clone())
            .set_grpc_code(m.grpc_code.clone())
            .build()
    })
}

/// Brings the stack's target groups in line. Returns their ARNs by resource ID and the target
/// groups to delete once nothing forwards to them.
pub async fn sync(
    ctx: &Ctx<'_>,
    stack: &Stack,
    mut found: Vec<Found<elbv2::TargetGroup>>,
    resolver: &mut Resolver,
) -> Result<(BTreeMap<String, String>, Vec<Found<elbv2::TargetGroup>>), DeployError> {
    let mut arns = BTreeMap::new();
    let mut extras = Vec::new();
    for (id, resource) in &stack.resources.target_groups {
        let spec = &resource.spec;
        let what = ResourceRef::new(ResourceType::TargetGroup, id.as_str());
        let (mut candidates, rest): (Vec<_>, Vec<_>) = found
            .into_iter()
            .partition(|f| f.resource_id() == Some(id.as_str()));
        found = rest;
        let current = candidates
            .iter()
            .position(|f| replacement_reason(spec, &f.item, &ctx.config.vpc_id).is_none())
            .map(|i| candidates.remove(i));
        // Replaced ones go once the rules point at the new one.
        extras.extend(candidates);
        let tg = match current {
            Some(tg) => {
                update(ctx, id, spec, &what, &tg).await?;
                tg
            }
            None => create(ctx, id, spec, &what).await?,
        };
        resolver.set(ResourceType::TargetGroup, id, TG_ARN, tg.arn.clone());
        arns.insert(id.clone(), tg.arn);
    }
    extras.extend(found);
    Ok((arns, extras))
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
    if !is_owned(&tags, &ctx.config.cluster_name, ctx.stack_id) || resource_id(&tags) != Some(id) {
        return Err(DeployError::NotOwned {
            resource: what.clone(),
            existing: format!("target group {} ({arn})", spec.name),
            cluster: ctx.config.cluster_name.clone(),
            stack: ctx.stack_id.to_owned(),
        });
    }
    if let Some(field) = replacement_reason(spec, &tg, &ctx.config.vpc_id) {
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

async fn create(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &TargetGroupSpec,
    what: &ResourceRef,
) -> Result<Found<elbv2::TargetGroup>, DeployError> {
    if let Some(existing) = find_by_name(ctx, id, spec, what).await? {
        update(ctx, id, spec, what, &existing).await?;
        return Ok(existing);
    }
    let tags = desired_tags(&spec.tags, &ctx.config.cluster_name, ctx.stack_id, id);
    let hc = spec
        .health_check_config
        .clone()
        .unwrap_or(HealthCheckConfig {
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
        .await?;
    let tg = out.target_groups().first().cloned().ok_or_else(|| {
        DeployError::invalid(
            what,
            "targetGroupARN",
            "CreateTargetGroup returned no target group",
        )
    })?;
    let arn = tg.target_group_arn().unwrap_or_default().to_owned();
    ctx.created(what, &arn);
    if !spec.target_group_attributes.is_empty() {
        modify_attributes(
            ctx,
            what,
            &arn,
            &changed_attributes(&spec.target_group_attributes, &BTreeMap::new()),
        )
        .await?;
    }
    Ok(Found {
        item: tg,
        arn,
        tags,
    })
}

async fn modify_attributes(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    attributes: &[crate::model::stack::Attribute],
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

async fn update(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &TargetGroupSpec,
    what: &ResourceRef,
    tg: &Found<elbv2::TargetGroup>,
) -> Result<(), DeployError> {
    let arn = tg.arn.as_str();
    let mut changed = false;
    if let Some(hc) = &spec.health_check_config
        && health_check_drifted(hc, &tg.item)
    {
        ctx.mutate("ModifyTargetGroup", what, || {
            ctx.clients
                .elbv2
                .modify_target_group()
                .target_group_arn(arn)
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
        changed = true;
    }
    if !spec.target_group_attributes.is_empty() {
        let out = ctx
            .read("DescribeTargetGroupAttributes", what, || {
                ctx.clients
                    .elbv2
                    .describe_target_group_attributes()
                    .target_group_arn(arn)
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
        let changes = changed_attributes(&spec.target_group_attributes, &actual);
        if !changes.is_empty() {
            modify_attributes(ctx, what, arn, &changes).await?;
            changed = true;
        }
    }
    let desired = desired_tags(&spec.tags, &ctx.config.cluster_name, ctx.stack_id, id);
    changed |= sync_tags(ctx, what, arn, &desired, &tg.tags).await?;
    if changed {
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
        if !is_owned(&tg.tags, &ctx.config.cluster_name, ctx.stack_id) {
            continue;
        }
        let what = tg.resource_ref(ResourceType::TargetGroup);
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
