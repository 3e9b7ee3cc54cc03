//! Security groups: create with tags, reconcile inbound rules and tags, delete when unused.

use aws_sdk_ec2::types as ec2;

use model::stack::{ResourceType, SecurityGroupSpec, Stack};
use model::tags::Tags;

use super::call::Ctx;
use super::diff::{FieldChange, ResourceDiff};
use super::discover::{Found, describe_security_groups};
use super::error::{DeployError, ErrorCategory, ResourceRef};
use super::fields::{permission_fields, tag_fields};
use super::resolve::{Resolver, SG_GROUP_ID};
use super::sg_rules::{
    PermissionPlan, actual_permissions, desired_permissions, ec2_permissions, plan_permissions,
};
use super::tags::{TagDiff, diff_tags};

const DUPLICATE_GROUP: &str = "InvalidGroup.Duplicate";
const GROUP_NOT_FOUND: &str = "InvalidGroup.NotFound";
const DEPENDENCY_VIOLATION: &str = "DependencyViolation";

fn ec2_tag_list(tags: &Tags) -> Vec<ec2::Tag> {
    tags.iter()
        .map(|(k, v)| ec2::Tag::builder().key(k).value(v).build())
        .collect()
}

/// Brings the stack's security groups in line (in a dry run: records what that takes); returns
/// the ones to delete once nothing uses them.
pub async fn sync(
    ctx: &Ctx<'_>,
    stack: &Stack,
    mut found: Vec<Found<ec2::SecurityGroup>>,
    resolver: &mut Resolver,
) -> Result<Vec<Found<ec2::SecurityGroup>>, DeployError> {
    let mut extras = Vec::new();
    for (id, resource) in &stack.resources.security_groups {
        let spec = &resource.spec;
        let what = ResourceRef::new(ResourceType::SecurityGroup, id.as_str());
        let (mut candidates, rest): (Vec<_>, Vec<_>) = found
            .into_iter()
            .partition(|f| ctx.resource_id(&f.tags) == Some(id.as_str()));
        found = rest;
        // The group name cannot change: one with another name is replaced.
        let current = candidates
            .iter()
            .position(|f| f.item.group_name() == Some(spec.group_name.as_str()))
            .map(|i| candidates.remove(i));
        let replacing: Vec<FieldChange> = candidates
            .first()
            .map(|old| {
                FieldChange::values(
                    "groupName",
                    old.item.group_name().unwrap_or_default(),
                    &spec.group_name,
                )
            })
            .into_iter()
            .collect();
        extras.extend(candidates);
        let group_id = match current {
            Some(group) => {
                let update = plan_update(ctx, id, spec, &group);
                ctx.decided(ResourceDiff::existing(
                    &what,
                    &group.arn,
                    update.fields.clone(),
                ));
                if !ctx.dry_run() {
                    apply_update(ctx, &what, &group.arn, &update).await?;
                }
                group.arn
            }
            None => match ctx.deciding_create(&what, replacing) {
                Some(placeholder) => placeholder,
                None => {
                    // A new group has no inbound rules; one adopted from an interrupted run
                    // has whatever it has.
                    let group = create(ctx, id, spec, &what).await?;
                    let update = plan_update(ctx, id, spec, &group);
                    apply_update(ctx, &what, &group.arn, &update).await?;
                    group.arn
                }
            },
        };
        resolver.set(ResourceType::SecurityGroup, id, SG_GROUP_ID, group_id);
    }
    extras.extend(found);
    Ok(extras)
}

async fn create(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &SecurityGroupSpec,
    what: &ResourceRef,
) -> Result<Found<ec2::SecurityGroup>, DeployError> {
    let tags = ctx.desired_tags(&spec.tags, id);
    let created = ctx
        .mutate("CreateSecurityGroup", what, || {
            ctx.clients
                .ec2
                .create_security_group()
                .group_name(&spec.group_name)
                .description(&spec.description)
                .vpc_id(&ctx.config.vpc_id)
                .tag_specifications(
                    ec2::TagSpecification::builder()
                        .resource_type(ec2::ResourceType::SecurityGroup)
                        .set_tags(Some(ec2_tag_list(&tags)))
                        .build(),
                )
                .send()
        })
        .await;
    match created {
        Ok(out) => {
            let group_id = out.group_id().unwrap_or_default().to_owned();
            if group_id.is_empty() {
                return Err(DeployError::invalid(
                    what,
                    "groupID",
                    "CreateSecurityGroup returned no group ID",
                ));
            }
            ctx.created(what, &group_id);
            Ok(Found {
                item: ec2::SecurityGroup::builder()
                    .group_id(&group_id)
                    .group_name(&spec.group_name)
                    .build(),
                arn: group_id,
                tags,
            })
        }
        // A group of that name exists in the VPC: ours from an interrupted run, or someone
        // else's.
        Err(err) if err.code() == Some(DUPLICATE_GROUP) => {
            let filters = vec![
                ec2::Filter::builder()
                    .name("group-name")
                    .values(&spec.group_name)
                    .build(),
                ec2::Filter::builder()
                    .name("vpc-id")
                    .values(&ctx.config.vpc_id)
                    .build(),
            ];
            let existing = describe_security_groups(ctx, what, filters).await?;
            match existing.into_iter().next() {
                Some(group)
                    if ctx.owns(&group.tags) && ctx.resource_id(&group.tags) == Some(id) =>
                {
                    Ok(group)
                }
                Some(group) => Err(DeployError::NotOwned {
                    resource: what.clone(),
                    existing: format!("security group {} ({})", spec.group_name, group.arn),
                    cluster: ctx.config.cluster_name.clone(),
                    stack: ctx.stack_id.to_owned(),
                }),
                None => Err(err),
            }
        }
        Err(err) => Err(err),
    }
}

/// What an existing security group needs.
struct Update {
    permissions: PermissionPlan,
    tags: TagDiff,
    fields: Vec<FieldChange>,
}

/// Works out what a security group needs, from what discovery read.
fn plan_update(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &SecurityGroupSpec,
    group: &Found<ec2::SecurityGroup>,
) -> Update {
    let permissions = plan_permissions(
        &desired_permissions(&spec.ingress),
        &actual_permissions(group.item.ip_permissions()),
    );
    let desired = ctx.desired_tags(&spec.tags, id);
    let tags = diff_tags(&desired, &group.tags, &ctx.config.external_managed_tags);
    let mut fields = permission_fields(&permissions);
    fields.extend(tag_fields(&tags, &group.tags));
    Update {
        permissions,
        tags,
        fields,
    }
}

async fn apply_update(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    group_id: &str,
    update: &Update,
) -> Result<(), DeployError> {
    let plan = &update.permissions;
    // A group created a moment ago may not be visible to the next call yet.
    let authorize = |perms: Vec<ec2::IpPermission>| async move {
        ctx.mutate_until_free(
            "AuthorizeSecurityGroupIngress",
            what,
            &[GROUP_NOT_FOUND],
            ctx.config.visibility_timeout,
            ctx.config.in_use_retry_interval,
            || {
                ctx.clients
                    .ec2
                    .authorize_security_group_ingress()
                    .group_id(group_id)
                    .set_ip_permissions(Some(perms.clone()))
                    .send()
            },
        )
        .await
    };
    if !plan.authorize_first.is_empty() {
        authorize(ec2_permissions(&plan.authorize_first)).await?;
    }
    if !plan.revoke.is_empty() {
        let perms = ec2_permissions(&plan.revoke);
        ctx.mutate("RevokeSecurityGroupIngress", what, || {
            ctx.clients
                .ec2
                .revoke_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(Some(perms.clone()))
                .send()
        })
        .await?;
    }
    if !plan.authorize_after_revoke.is_empty() {
        authorize(ec2_permissions(&plan.authorize_after_revoke)).await?;
    }

    let diff = &update.tags;
    if !diff.add.is_empty() {
        ctx.mutate("CreateTags", what, || {
            ctx.clients
                .ec2
                .create_tags()
                .resources(group_id)
                .set_tags(Some(ec2_tag_list(&diff.add)))
                .send()
        })
        .await?;
    }
    if !diff.remove.is_empty() {
        let keys: Vec<ec2::Tag> = diff
            .remove
            .iter()
            .map(|k| ec2::Tag::builder().key(k).build())
            .collect();
        ctx.mutate("DeleteTags", what, || {
            ctx.clients
                .ec2
                .delete_tags()
                .resources(group_id)
                .set_tags(Some(keys.clone()))
                .send()
        })
        .await?;
    }
    if !update.fields.is_empty() {
        ctx.modified(what, group_id);
    }
    Ok(())
}

/// Deletes security groups of ours, waiting while network interfaces still use them.
pub async fn delete(
    ctx: &Ctx<'_>,
    groups: Vec<Found<ec2::SecurityGroup>>,
) -> Result<(), DeployError> {
    for group in groups {
        if !ctx.owns(&group.tags) {
            continue;
        }
        let what = group.resource_ref(ctx.kind, ResourceType::SecurityGroup);
        ctx.decided(ResourceDiff::delete(&what, &group.arn));
        if ctx.dry_run() {
            continue;
        }
        let result = ctx
            .mutate_until_free(
                "DeleteSecurityGroup",
                &what,
                &[DEPENDENCY_VIOLATION],
                ctx.config.security_group_delete_timeout,
                ctx.config.in_use_retry_interval,
                || {
                    ctx.clients
                        .ec2
                        .delete_security_group()
                        .group_id(&group.arn)
                        .send()
                },
            )
            .await;
        match result {
            Ok(_) => ctx.deleted(&what, &group.arn),
            Err(err) if err.category() == ErrorCategory::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
