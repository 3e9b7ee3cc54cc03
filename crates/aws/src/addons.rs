//! The load balancer's add-ons: the WAFv2 and WAF Classic (regional) Web ACL associations and
//! the Shield Advanced protection, applied after the load balancer and its listeners and rules.
//!
//! An add-on missing from the stack leaves AWS's setting for the load balancer alone (no call at
//! all); one in the stack is read from AWS and changed only when it differs:
//!
//! * WAFv2 (`--enable-wafv2`): `GetWebACLForResource`, then `AssociateWebACL` (which also
//!   replaces another Web ACL) or `DisassociateWebACL`. A Web ACL given by name is looked up with
//!   `ListWebACLs` (scope `REGIONAL`) before anything else of the deploy, so that an unknown name
//!   fails the deploy before it changes anything.
//! * WAF Classic regional (`--enable-waf`): the same calls of `waf-regional`, by Web ACL ID.
//! * Shield Advanced (`--enable-shield`): only while `GetSubscriptionState` says `ACTIVE`;
//!   `DescribeProtection` by the load balancer's ARN, then `CreateProtection` (named
//!   [`PROTECTION_NAME`]) or `DeleteProtection`. Only protections the controller named are
//!   deleted; anyone else's is left alone.
//!
//! A dry run reads the same way and records the decisions; for a load balancer it would create,
//! nothing exists yet to read and every wanted add-on is a create.

use aws_sdk_shield::types::SubscriptionState;
use aws_sdk_wafv2::types::Scope;

use super::call::Ctx;
use super::diff::{ChangeKind, FieldChange, ResourceDiff, is_placeholder};
use super::error::{DeployError, ResourceRef};
use model::stack::{ResourceType, Stack, resource_id};

#[cfg(test)]
mod tests;

/// The name of the Shield protections the controller creates.
pub const PROTECTION_NAME: &str = "managed by aws-load-balancer-controller";
/// The name the controller's predecessor gave its protections; also ours to delete.
pub const LEGACY_PROTECTION_NAME: &str = "managed by aws-alb-ingress-controller";

/// What the stack wants of each add-on, names resolved. `None`: leave AWS alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Wanted {
    /// The WAFv2 Web ACL ARN (`Some(None)`: no Web ACL).
    pub wafv2: Option<Option<String>>,
    /// The WAF Classic regional Web ACL ID (`Some(None)`: no Web ACL).
    pub waf_regional: Option<Option<String>>,
    /// Whether the load balancer should be protected by Shield Advanced.
    pub shield: Option<bool>,
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

fn resource(resource_type: ResourceType) -> ResourceRef {
    ResourceRef::new(resource_type, resource_id::LOAD_BALANCER)
}

/// Reads the add-ons of the stack that the flags enable, looking WAFv2 Web ACL names up.
pub(crate) async fn prepare(ctx: &Ctx<'_>, stack: &Stack) -> Result<Wanted, DeployError> {
    let config = ctx.config;
    let r = &stack.resources;
    let mut wanted = Wanted::default();
    if config.enable_wafv2
        && let Some(association) = r.wafv2_web_acl_associations.get(resource_id::LOAD_BALANCER)
    {
        let spec = &association.spec;
        wanted.wafv2 = Some(match &spec.web_acl_name {
            Some(name) => Some(web_acl_arn_by_name(ctx, name).await?),
            None => non_empty(&spec.web_acl_arn),
        });
    }
    if config.enable_waf
        && let Some(association) = r
            .waf_regional_web_acl_associations
            .get(resource_id::LOAD_BALANCER)
    {
        wanted.waf_regional = Some(non_empty(&association.spec.web_acl_id));
    }
    if config.enable_shield
        && let Some(protection) = r.shield_protections.get(resource_id::LOAD_BALANCER)
    {
        wanted.shield = Some(protection.spec.enabled);
    }
    Ok(wanted)
}

/// The ARN of the regional WAFv2 Web ACL called `name`.
async fn web_acl_arn_by_name(ctx: &Ctx<'_>, name: &str) -> Result<String, DeployError> {
    let what = resource(ResourceType::WafV2WebAclAssociation);
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .read("ListWebACLs", &what, || {
                ctx.clients
                    .wafv2
                    .list_web_acls()
                    .scope(Scope::Regional)
                    .set_next_marker(marker.clone())
                    .send()
            })
            .await?;
        if let Some(arn) = page
            .web_acls()
            .iter()
            .find(|acl| acl.name() == Some(name))
            .and_then(|acl| acl.arn())
        {
            return Ok(arn.to_owned());
        }
        match page.next_marker() {
            Some(next) if !next.is_empty() && !page.web_acls().is_empty() => {
                marker = Some(next.to_owned());
            }
            _ => {
                return Err(DeployError::invalid(
                    &what,
                    "webACLName",
                    format!("couldn't find WAFv2 WebACL with name: {name}"),
                ));
            }
        }
    }
}

/// What to do about a Web ACL association.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AclStep {
    Keep,
    Associate(String),
    Disassociate,
}

/// The step from the associated Web ACL (`current`) to the wanted one (`None`: none).
pub(crate) fn acl_step(wanted: Option<&str>, current: Option<&str>) -> AclStep {
    match (wanted, current) {
        (None, None) => AclStep::Keep,
        (None, Some(_)) => AclStep::Disassociate,
        (Some(w), Some(c)) if w == c => AclStep::Keep,
        (Some(w), _) => AclStep::Associate(w.to_owned()),
    }
}

/// A Shield protection as `DescribeProtection` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Protection {
    pub id: String,
    pub name: String,
}

/// What to do about the Shield protection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProtectionStep {
    Keep,
    Create,
    Delete {
        id: String,
    },
    /// Protection is not wanted, but the existing one was not made by the controller.
    LeaveUnmanaged,
}

/// The step from the load balancer's protection (`current`) to the wanted state.
pub(crate) fn protection_step(enabled: bool, current: Option<&Protection>) -> ProtectionStep {
    match (enabled, current) {
        (true, None) => ProtectionStep::Create,
        (true, Some(_)) | (false, None) => ProtectionStep::Keep,
        (false, Some(p)) if p.name == PROTECTION_NAME || p.name == LEGACY_PROTECTION_NAME => {
            ProtectionStep::Delete { id: p.id.clone() }
        }
        (false, Some(_)) => ProtectionStep::LeaveUnmanaged,
    }
}

/// The decision to record for an association step.
pub(crate) fn acl_diff(
    what: &ResourceRef,
    lb_arn: &str,
    field: &str,
    current: Option<&str>,
    step: &AclStep,
) -> ResourceDiff {
    let (change, to) = match step {
        AclStep::Keep => (ChangeKind::Unchanged, None),
        AclStep::Associate(wanted) if current.is_none() => (ChangeKind::Create, Some(wanted)),
        AclStep::Associate(wanted) => (ChangeKind::Modify, Some(wanted)),
        AclStep::Disassociate => (ChangeKind::Delete, None),
    };
    let fields = if change == ChangeKind::Unchanged {
        Vec::new()
    } else {
        vec![FieldChange::new(
            field,
            current.map(str::to_owned),
            to.cloned(),
        )]
    };
    ResourceDiff {
        change,
        resource: what.clone(),
        aws_id: Some(lb_arn.to_owned()),
        fields,
    }
}

/// Applies the wanted add-ons to the load balancer `lb_arn` (none: the stack has no load
/// balancer, so there is nothing to apply them to).
pub(crate) async fn sync(
    ctx: &Ctx<'_>,
    wanted: &Wanted,
    lb_arn: Option<&str>,
) -> Result<(), DeployError> {
    let Some(lb_arn) = lb_arn else {
        return Ok(());
    };
    // A load balancer a dry run would create has nothing associated yet.
    let new = is_placeholder(lb_arn);
    if let Some(acl) = &wanted.wafv2 {
        sync_wafv2(ctx, lb_arn, new, acl.as_deref()).await?;
    }
    if let Some(acl) = &wanted.waf_regional {
        sync_waf_regional(ctx, lb_arn, new, acl.as_deref()).await?;
    }
    if let Some(enabled) = wanted.shield {
        sync_shield(ctx, lb_arn, new, enabled).await?;
    }
    Ok(())
}

/// Records the decision, and in a real run reports the change.
fn record(ctx: &Ctx<'_>, diff: ResourceDiff, lb_arn: &str) {
    let what = diff.resource.clone();
    match diff.change {
        ChangeKind::Create => ctx.created(&what, lb_arn),
        ChangeKind::Modify => ctx.modified(&what, lb_arn),
        ChangeKind::Delete => ctx.deleted(&what, lb_arn),
        ChangeKind::Unchanged => {}
    }
    ctx.decided(diff);
}

async fn sync_wafv2(
    ctx: &Ctx<'_>,
    lb_arn: &str,
    new: bool,
    wanted: Option<&str>,
) -> Result<(), DeployError> {
    let what = resource(ResourceType::WafV2WebAclAssociation);
    let current = if new {
        None
    } else {
        let found = ctx
            .read("GetWebACLForResource", &what, || {
                ctx.clients
                    .wafv2
                    .get_web_acl_for_resource()
                    .resource_arn(lb_arn)
                    .send()
            })
            .await?;
        found.web_acl().map(|acl| acl.arn().to_owned())
    };
    let step = acl_step(wanted, current.as_deref());
    let diff = acl_diff(&what, lb_arn, "webACLARN", current.as_deref(), &step);
    if !ctx.dry_run() {
        match &step {
            AclStep::Keep => {}
            AclStep::Associate(acl) => {
                ctx.mutate("AssociateWebACL", &what, || {
                    ctx.clients
                        .wafv2
                        .associate_web_acl()
                        .web_acl_arn(acl)
                        .resource_arn(lb_arn)
                        .send()
                })
                .await?;
                tracing::info!(lb_arn, web_acl_arn = %acl, "associated WAFv2 Web ACL");
            }
            AclStep::Disassociate => {
                ctx.mutate("DisassociateWebACL", &what, || {
                    ctx.clients
                        .wafv2
                        .disassociate_web_acl()
                        .resource_arn(lb_arn)
                        .send()
                })
                .await?;
                tracing::info!(lb_arn, "disassociated WAFv2 Web ACL");
            }
        }
    }
    record(ctx, diff, lb_arn);
    Ok(())
}

async fn sync_waf_regional(
    ctx: &Ctx<'_>,
    lb_arn: &str,
    new: bool,
    wanted: Option<&str>,
) -> Result<(), DeployError> {
    let what = resource(ResourceType::WafRegionalWebAclAssociation);
    let current = if new {
        None
    } else {
        let found = ctx
            .read("GetWebACLForResource", &what, || {
                ctx.clients
                    .waf_regional
                    .get_web_acl_for_resource()
                    .resource_arn(lb_arn)
                    .send()
            })
            .await?;
        found
            .web_acl_summary()
            .map(|acl| acl.web_acl_id().to_owned())
    };
    let step = acl_step(wanted, current.as_deref());
    let diff = acl_diff(&what, lb_arn, "webACLID", current.as_deref(), &step);
    if !ctx.dry_run() {
        match &step {
            AclStep::Keep => {}
            AclStep::Associate(acl) => {
                ctx.mutate("AssociateWebACL", &what, || {
                    ctx.clients
                        .waf_regional
                        .associate_web_acl()
                        .web_acl_id(acl)
                        .resource_arn(lb_arn)
                        .send()
                })
                .await?;
                tracing::info!(lb_arn, web_acl_id = %acl, "associated WAF Classic Web ACL");
            }
            AclStep::Disassociate => {
                ctx.mutate("DisassociateWebACL", &what, || {
                    ctx.clients
                        .waf_regional
                        .disassociate_web_acl()
                        .resource_arn(lb_arn)
                        .send()
                })
                .await?;
                tracing::info!(lb_arn, "disassociated WAF Classic Web ACL");
            }
        }
    }
    record(ctx, diff, lb_arn);
    Ok(())
}

/// Whether the account's Shield Advanced subscription is active.
async fn shield_subscribed(ctx: &Ctx<'_>, what: &ResourceRef) -> Result<bool, DeployError> {
    let state = ctx
        .read("GetSubscriptionState", what, || {
            ctx.clients.shield.get_subscription_state().send()
        })
        .await?;
    Ok(*state.subscription_state() == SubscriptionState::Active)
}

/// The load balancer's Shield protection, if it has one.
async fn current_protection(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    lb_arn: &str,
) -> Result<Option<Protection>, DeployError> {
    let described = ctx
        .read("DescribeProtection", what, || {
            ctx.clients
                .shield
                .describe_protection()
                .resource_arn(lb_arn)
                .send()
        })
        .await;
    match described {
        Ok(out) => Ok(out.protection().map(|p| Protection {
            id: p.id().unwrap_or_default().to_owned(),
            name: p.name().unwrap_or_default().to_owned(),
        })),
        Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(err) => Err(err),
    }
}

/// The decision to record for a protection step.
pub(crate) fn protection_diff(
    what: &ResourceRef,
    lb_arn: &str,
    current: Option<&Protection>,
    step: &ProtectionStep,
) -> ResourceDiff {
    let field = |from: Option<&str>, to: Option<&str>| {
        vec![FieldChange::new(
            "protection",
            from.map(str::to_owned),
            to.map(str::to_owned),
        )]
    };
    let (change, fields) = match step {
        ProtectionStep::Keep | ProtectionStep::LeaveUnmanaged => (ChangeKind::Unchanged, vec![]),
        ProtectionStep::Create => (ChangeKind::Create, field(None, Some(PROTECTION_NAME))),
        ProtectionStep::Delete { .. } => (
            ChangeKind::Delete,
            field(current.map(|p| p.name.as_str()), None),
        ),
    };
    ResourceDiff {
        change,
        resource: what.clone(),
        aws_id: Some(lb_arn.to_owned()),
        fields,
    }
}

async fn sync_shield(
    ctx: &Ctx<'_>,
    lb_arn: &str,
    new: bool,
    enabled: bool,
) -> Result<(), DeployError> {
    let what = resource(ResourceType::ShieldProtection);
    if !shield_subscribed(ctx, &what).await? {
        tracing::info!(
            lb_arn,
            enabled,
            "Shield Advanced subscription is not active: leaving the protection alone"
        );
        return Ok(());
    }
    let current = if new {
        None
    } else {
        current_protection(ctx, &what, lb_arn).await?
    };
    let step = protection_step(enabled, current.as_ref());
    let diff = protection_diff(&what, lb_arn, current.as_ref(), &step);
    if !ctx.dry_run() {
        match &step {
            ProtectionStep::Keep => {}
            ProtectionStep::LeaveUnmanaged => {
                tracing::info!(
                    lb_arn,
                    name = current.as_ref().map(|p| p.name.as_str()),
                    "leaving a Shield protection the controller did not create alone"
                );
            }
            ProtectionStep::Create => {
                let created = ctx
                    .mutate("CreateProtection", &what, || {
                        ctx.clients
                            .shield
                            .create_protection()
                            .name(PROTECTION_NAME)
                            .resource_arn(lb_arn)
                            .send()
                    })
                    .await?;
                tracing::info!(
                    lb_arn,
                    protection_id = created.protection_id(),
                    "created Shield protection"
                );
            }
            ProtectionStep::Delete { id } => {
                ctx.mutate("DeleteProtection", &what, || {
                    ctx.clients
                        .shield
                        .delete_protection()
                        .protection_id(id)
                        .send()
                })
                .await?;
                tracing::info!(lb_arn, protection_id = %id, "deleted Shield protection");
            }
        }
    }
    record(ctx, diff, lb_arn);
    Ok(())
}
