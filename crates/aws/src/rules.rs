//! Listener rules: recording and (unless in a dry run) applying each listener's [`RulePlan`]
//! and, at the end of a deploy, deleting the stale rules.
//!
//! The rules of a listener of ours are ours by priority and content whether or not they carry
//! our tags, unless they carry someone else's ([`ownership`](super::ownership)). Untagged rules
//! that stay get our tags with the other updates; stale ones are deleted. Another cluster's or
//! stack's rules are never touched: they are reported, and one holding a priority the stack
//! wants stops the deploy with [`DeployError::OwnedByOther`].

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types as elbv2;

use model::stack::{Action, ListenerRuleSpec, ResourceType, Stack};

use super::call::Ctx;
use super::convert::{sdk_actions, sdk_conditions, sdk_tags, sdk_transforms};
use super::diff::{FieldChange, ResourceDiff};
use super::discover::Found;
use super::elbv2_tags::apply_tags;
use super::error::{DeployError, ErrorCategory, ResourceRef};
use super::fields::{rule_content_fields, tag_fields};
use super::ownership::{ForeignResource, Owner, Ownership};
use super::resolve::Resolver;
use super::rule_plan::{ExistingRule, RuleContent, RulePlan, plan_rules};
use super::tags::{TagDiff, diff_tags};
use model::stack::resource_id as ids;

/// ALB rule priorities.
const PRIORITY_RANGE: std::ops::RangeInclusive<u32> = 1..=50_000;

/// The non-default rules found on a listener that stays, and its port.
#[derive(Clone, Debug)]
pub struct ListenerRules {
    pub port: u16,
    pub rules: Vec<Found<elbv2::Rule>>,
}

/// A rule of ours that the stack no longer has, named by its resource ID tag, else by its
/// position.
#[derive(Clone, Debug)]
pub struct StaleRule {
    pub what: ResourceRef,
    pub rule: Found<elbv2::Rule>,
}

struct DesiredRule<'a> {
    id: &'a str,
    spec: &'a ListenerRuleSpec,
    what: ResourceRef,
    actions: Vec<Action>,
    priority: i32,
}

/// Brings the rules of every listener in `existing` (listener ARN → its rules) in line with
/// the stack; returns the stale rules, to delete once everything else is in place.
pub async fn sync(
    ctx: &Ctx<'_>,
    stack: &Stack,
    existing: BTreeMap<String, ListenerRules>,
    resolver: &Resolver,
) -> Result<Vec<StaleRule>, DeployError> {
    let mut by_listener: BTreeMap<String, Vec<DesiredRule<'_>>> = BTreeMap::new();
    for (id, resource) in &stack.resources.listener_rules {
        let spec = &resource.spec;
        let what = ResourceRef::new(ResourceType::ListenerRule, id.as_str());
        if !PRIORITY_RANGE.contains(&spec.priority) {
            return Err(DeployError::invalid(
                &what,
                "priority",
                format!("{} is outside 1..=50000", spec.priority),
            ));
        }
        let priority = i32::try_from(spec.priority)
            .map_err(|_| DeployError::invalid(&what, "priority", "does not fit the API"))?;
        let listener_arn = resolver.token(&spec.listener_arn, &what, "listenerARN")?;
        if !existing.contains_key(&listener_arn) {
            return Err(DeployError::invalid(
                &what,
                "listenerARN",
                format!("{listener_arn} is not a listener of this stack"),
            ));
        }
        let actions = resolver.actions(&spec.actions, &what, "actions")?;
        by_listener
            .entry(listener_arn)
            .or_default()
            .push(DesiredRule {
                id,
                spec,
                what,
                actions,
                priority,
            });
    }

    let mut stale = Vec::new();
    for (listener_arn, found) in existing {
        let desired = by_listener.remove(&listener_arn).unwrap_or_default();
        stale.extend(sync_listener(ctx, &listener_arn, found.port, &desired, found.rules).await?);
    }
    Ok(stale)
}

async fn sync_listener(
    ctx: &Ctx<'_>,
    listener_arn: &str,
    port: u16,
    desired: &[DesiredRule<'_>],
    existing: Vec<Found<elbv2::Rule>>,
) -> Result<Vec<StaleRule>, DeployError> {
    let cluster = &ctx.config.cluster_name;
    let planned: Vec<(u32, RuleContent)> = desired
        .iter()
        .map(|d| {
            (
                d.spec.priority,
                RuleContent::desired(&d.actions, &d.spec.conditions, &d.spec.transforms),
            )
        })
        .collect();
    // Rules with a priority we cannot read are not ours to judge; they stay untouched. The
    // others are ours by position unless they carry someone else's tags.
    let existing: Vec<(Found<elbv2::Rule>, ExistingRule)> = existing
        .into_iter()
        .filter_map(|f| {
            let priority = f.item.priority()?.parse::<u32>().ok()?;
            let rule = ExistingRule {
                priority,
                content: RuleContent::actual(&f.item),
                owned: !ctx.ownership(&f.tags).is_foreign(),
            };
            Some((f, rule))
        })
        .collect();
    let views: Vec<ExistingRule> = existing.iter().map(|(_, r)| r.clone()).collect();
    let plan = plan_rules(&planned, &views).map_err(|taken| {
        let resource = desired
            .get(taken.desired)
            .map(|r| r.what.clone())
            .unwrap_or_else(|| ResourceRef::new(ResourceType::ListenerRule, ""));
        let (arn, priority, owner) = match existing.get(taken.existing) {
            Some((f, view)) => match ctx.ownership(&f.tags) {
                Ownership::Foreign(owner) => (f.arn.as_str(), view.priority, owner),
                _ => (f.arn.as_str(), view.priority, Owner::default()),
            },
            None => ("", 0, Owner::default()),
        };
        DeployError::OwnedByOther {
            resource,
            existing: format!(
                "the rule at priority {priority} of the listener on port {port} ({arn})"
            ),
            owner: Box::new(owner),
            cluster: cluster.clone(),
            stack: ctx.stack_id.to_owned(),
        }
    })?;
    for (f, view) in &existing {
        if let Ownership::Foreign(owner) = ctx.ownership(&f.tags) {
            ctx.left_alone(ForeignResource {
                resource: ResourceRef::new(
                    ResourceType::ListenerRule,
                    ids::listener_rule(port, view.priority),
                ),
                aws_id: f.arn.clone(),
                owner,
            });
        }
    }
    let rule = |d: usize| desired.get(d);
    let found = |e: usize| existing.get(e).map(|(f, _)| f);

    // Tags of the rules that stay (a moved rule gets its new resource ID).
    let moved: Vec<(usize, usize)> = plan.moves.iter().flatten().copied().collect();
    let mut retag: Vec<(usize, usize, TagDiff)> = Vec::new();
    for &(d, e) in plan.keep.iter().chain(&moved).chain(&plan.modify) {
        let (Some(r), Some(f)) = (rule(d), found(e)) else {
            continue;
        };
        let tags = ctx.desired_tags(&r.spec.tags, r.id);
        let diff = diff_tags(&tags, &f.tags, &ctx.config.external_managed_tags);
        retag.push((d, e, diff));
    }

    record_decisions(ctx, desired, &existing, &planned, &plan, &retag);
    if !ctx.dry_run() {
        apply(ctx, listener_arn, desired, &existing, &plan, &retag).await?;
    }

    let mut existing = existing;
    let mut stale = Vec::new();
    // Highest index first so that removal keeps the other indices valid.
    for &e in plan.delete.iter().rev() {
        if e < existing.len() {
            let (rule, view) = existing.swap_remove(e);
            let id = match ctx.resource_id(&rule.tags) {
                Some(id) => id.to_owned(),
                None => ids::listener_rule(port, view.priority),
            };
            stale.push(StaleRule {
                what: ResourceRef::new(ResourceType::ListenerRule, id),
                rule,
            });
        }
    }
    Ok(stale)
}

/// Records what happens to each desired rule of one listener, in the order of the stack.
fn record_decisions(
    ctx: &Ctx<'_>,
    desired: &[DesiredRule<'_>],
    existing: &[(Found<elbv2::Rule>, ExistingRule)],
    planned: &[(u32, RuleContent)],
    plan: &RulePlan,
    retag: &[(usize, usize, TagDiff)],
) {
    let moved: BTreeMap<usize, usize> = plan.moves.iter().flatten().copied().collect();
    let modified: BTreeMap<usize, usize> = plan.modify.iter().copied().collect();
    let mut decisions: Vec<(usize, ResourceDiff)> = Vec::new();
    for (d, e, tags) in retag {
        let (Some(r), Some((f, view)), Some((priority, content))) =
            (desired.get(*d), existing.get(*e), planned.get(*d))
        else {
            continue;
        };
        let mut fields = Vec::new();
        if moved.get(d) == Some(e) {
            fields.push(FieldChange::values(
                "priority",
                view.priority.to_string(),
                priority.to_string(),
            ));
        }
        if modified.get(d) == Some(e) {
            fields.extend(rule_content_fields(view.content.as_ref(), content));
        }
        fields.extend(tag_fields(tags, &f.tags));
        decisions.push((*d, ResourceDiff::existing(&r.what, &f.arn, fields)));
    }
    for &d in &plan.create {
        if let Some(r) = desired.get(d) {
            decisions.push((d, ResourceDiff::create(&r.what, Vec::new())));
        }
    }
    decisions.sort_by_key(|(d, _)| *d);
    for (_, decision) in decisions {
        ctx.decided(decision);
    }
}

/// Makes the calls of one listener's [`RulePlan`]: moves, in-place modifications, creations,
/// then the tags of the rules that stay. Stale rules are deleted later.
async fn apply(
    ctx: &Ctx<'_>,
    listener_arn: &str,
    desired: &[DesiredRule<'_>],
    existing: &[(Found<elbv2::Rule>, ExistingRule)],
    plan: &RulePlan,
    retag: &[(usize, usize, TagDiff)],
) -> Result<(), DeployError> {
    let rule = |d: usize| desired.get(d);
    let found = |e: usize| existing.get(e).map(|(f, _)| f);

    let what = ResourceRef::new(ResourceType::ListenerRule, listener_arn);
    for wave in &plan.moves {
        let pairs: Vec<elbv2::RulePriorityPair> = wave
            .iter()
            .filter_map(|&(d, e)| {
                Some(
                    elbv2::RulePriorityPair::builder()
                        .rule_arn(&found(e)?.arn)
                        .priority(rule(d)?.priority)
                        .build(),
                )
            })
            .collect();
        ctx.mutate("SetRulePriorities", &what, || {
            ctx.clients
                .elbv2
                .set_rule_priorities()
                .set_rule_priorities(Some(pairs.clone()))
                .send()
        })
        .await?;
        for &(d, e) in wave {
            if let (Some(r), Some(f)) = (rule(d), found(e)) {
                ctx.modified(&r.what, &f.arn);
            }
        }
    }

    for &(d, e) in &plan.modify {
        let (Some(r), Some(f)) = (rule(d), found(e)) else {
            continue;
        };
        let actions = sdk_actions(&r.actions, &r.what)?;
        let conditions = sdk_conditions(&r.spec.conditions);
        let transforms = sdk_transforms(&r.spec.transforms);
        let reset_transforms = transforms.is_empty() && !f.item.transforms().is_empty();
        ctx.mutate("ModifyRule", &r.what, || {
            let mut call = ctx
                .clients
                .elbv2
                .modify_rule()
                .rule_arn(&f.arn)
                .set_actions(Some(actions.clone()))
                .set_conditions(Some(conditions.clone()));
            if !transforms.is_empty() {
                call = call.set_transforms(Some(transforms.clone()));
            } else if reset_transforms {
                call = call.reset_transforms(true);
            }
            call.send()
        })
        .await?;
        ctx.modified(&r.what, &f.arn);
    }

    for &d in &plan.create {
        let Some(r) = rule(d) else { continue };
        let tags = ctx.desired_tags(&r.spec.tags, r.id);
        let actions = sdk_actions(&r.actions, &r.what)?;
        let conditions = sdk_conditions(&r.spec.conditions);
        let transforms = sdk_transforms(&r.spec.transforms);
        let out = ctx
            .mutate("CreateRule", &r.what, || {
                ctx.clients
                    .elbv2
                    .create_rule()
                    .listener_arn(listener_arn)
                    .priority(r.priority)
                    .set_actions(Some(actions.clone()))
                    .set_conditions(Some(conditions.clone()))
                    .set_transforms((!transforms.is_empty()).then(|| transforms.clone()))
                    .set_tags(Some(sdk_tags(&tags)))
                    .send()
            })
            .await?;
        let arn = out
            .rules()
            .first()
            .and_then(|rule| rule.rule_arn())
            .unwrap_or_default();
        ctx.created(&r.what, arn);
    }

    for (d, e, diff) in retag {
        let (Some(r), Some(f)) = (rule(*d), found(*e)) else {
            continue;
        };
        if !diff.is_empty() {
            apply_tags(ctx, &r.what, &f.arn, diff).await?;
            ctx.modified(&r.what, &f.arn);
        }
    }
    Ok(())
}

/// Deletes stale rules (of listeners that stay).
pub async fn delete(ctx: &Ctx<'_>, rules: Vec<StaleRule>) -> Result<(), DeployError> {
    for StaleRule { what, rule } in rules {
        // The planner never offers someone else's rules; this is a second line of defence.
        if ctx.ownership(&rule.tags).is_foreign() {
            continue;
        }
        ctx.decided(ResourceDiff::delete(&what, &rule.arn));
        if ctx.dry_run() {
            continue;
        }
        let result = ctx
            .mutate("DeleteRule", &what, || {
                ctx.clients.elbv2.delete_rule().rule_arn(&rule.arn).send()
            })
            .await;
        match result {
            Ok(_) => ctx.deleted(&what, &rule.arn),
            Err(err) if err.category() == ErrorCategory::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
