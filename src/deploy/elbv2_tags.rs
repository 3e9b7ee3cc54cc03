//! Tag reconciliation of ELBv2 resources (load balancers, target groups, listeners, rules).

use crate::model::tags::Tags;

use super::call::Ctx;
use super::convert::sdk_tags;
use super::error::{DeployError, ResourceRef};
use super::tags::diff_tags;

/// Adds and removes tags so that the resource carries `desired`; returns whether anything
/// changed.
pub async fn sync_tags(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    desired: &Tags,
    actual: &Tags,
) -> Result<bool, DeployError> {
    let diff = diff_tags(desired, actual, &ctx.config.external_managed_tags);
    if !diff.add.is_empty() {
        let tags = sdk_tags(&diff.add);
        ctx.mutate("AddTags", what, || {
            ctx.clients
                .elbv2
                .add_tags()
                .resource_arns(arn)
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
    }
    if !diff.remove.is_empty() {
        ctx.mutate("RemoveTags", what, || {
            ctx.clients
                .elbv2
                .remove_tags()
                .resource_arns(arn)
                .set_tag_keys(Some(diff.remove.clone()))
                .send()
        })
        .await?;
    }
    Ok(!diff.is_empty())
}
