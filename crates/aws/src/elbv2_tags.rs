//! Tag reconciliation of ELBv2 resources (load balancers, target groups, listeners, rules).

use super::call::Ctx;
use super::convert::sdk_tags;
use super::error::{DeployError, ResourceRef};
use super::tags::TagDiff;

/// Adds and removes the tags of a [`TagDiff`](super::tags::diff_tags).
pub async fn apply_tags(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    diff: &TagDiff,
) -> Result<(), DeployError> {
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
    Ok(())
}
