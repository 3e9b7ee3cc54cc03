//! Finding what exists for one stack, by our tags, with as few calls as AWS allows.
//!
//! * load balancers and target groups: one tag-filtered `GetResources` (Resource Groups
//!   Tagging API), then `DescribeLoadBalancers` / `DescribeTargetGroups` for exactly the ARNs
//!   found, 20 at a time;
//! * security groups: one tag-filtered `DescribeSecurityGroups`;
//! * listeners and rules: read per owned load balancer (the tagging API does not index them),
//!   with their tags fetched by `DescribeTags` 20 ARNs at a time.
//!
//! Everything returned is checked again against our cluster and stack tags, except listeners
//! and rules: those on our load balancers are returned whatever their tags, to be judged by
//! position ([`ownership`](super::ownership)).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types as ec2;
use aws_sdk_elasticloadbalancingv2::types as elbv2;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use futures::future::{try_join, try_join_all};

use model::stack::{ResourceType, StackKind};
use model::tags::{TAG_CLUSTER, Tags};

use super::call::Ctx;
use super::convert::model_tags;
use super::error::{DeployError, ErrorCategory, ResourceRef};
use super::tags::resource_id;

/// The most ARNs `DescribeTags`, `DescribeLoadBalancers` and `DescribeTargetGroups` take at once.
pub const ARN_BATCH: usize = 20;
const RESOURCE_TYPE_LB: &str = "elasticloadbalancing:loadbalancer";
const RESOURCE_TYPE_TG: &str = "elasticloadbalancing:targetgroup";
const PAGE_SIZE: i32 = 400;

/// A resource found in AWS, with its ARN (or ID) and tags.
#[derive(Clone, Debug)]
pub struct Found<T> {
    pub item: T,
    pub arn: String,
    pub tags: Tags,
}

impl<T> Found<T> {
    /// The resource ID from the kind's resource tag (`ingress.k8s.aws/resource` or
    /// `service.k8s.aws/resource`).
    pub fn resource_id(&self, kind: StackKind) -> Option<&str> {
        resource_id(&self.tags, kind)
    }

    pub fn resource_ref(&self, kind: StackKind, resource_type: ResourceType) -> ResourceRef {
        ResourceRef::new(resource_type, self.resource_id(kind).unwrap_or_default())
    }
}

/// The stack's load balancers, target groups and security groups.
#[derive(Debug, Default)]
pub struct Owned {
    pub load_balancers: Vec<Found<elbv2::LoadBalancer>>,
    pub target_groups: Vec<Found<elbv2::TargetGroup>>,
    pub security_groups: Vec<Found<ec2::SecurityGroup>>,
}

/// A listener of one of our load balancers and its non-default rules.
#[derive(Clone, Debug)]
pub struct FoundListener {
    pub listener: Found<elbv2::Listener>,
    pub rules: Vec<Found<elbv2::Rule>>,
}

fn stack_ref(ctx: &Ctx<'_>) -> ResourceRef {
    ResourceRef::new(ResourceType::LoadBalancer, ctx.stack_id)
}

/// Everything the stack owns, apart from listeners and rules.
pub async fn owned(ctx: &Ctx<'_>) -> Result<Owned, DeployError> {
    let ((lb_arns, tg_arns), security_groups) =
        try_join(tagged_elbv2_arns(ctx), tagged_security_groups(ctx)).await?;
    let (load_balancers, target_groups) = try_join(
        describe_load_balancers(ctx, lb_arns),
        describe_target_groups(ctx, tg_arns),
    )
    .await?;
    Ok(Owned {
        load_balancers,
        target_groups,
        security_groups,
    })
}

/// ARNs (with tags) of the stack's load balancers and target groups, from the tagging API.
async fn tagged_elbv2_arns(
    ctx: &Ctx<'_>,
) -> Result<(BTreeMap<String, Tags>, BTreeMap<String, Tags>), DeployError> {
    let filters = vec![
        cluster_tag_filter(&ctx.config.cluster_name),
        TagFilter::builder()
            .key(ctx.kind.stack_tag())
            .values(ctx.stack_id)
            .build(),
    ];
    let found = tagged_elbv2(ctx, &stack_ref(ctx), filters).await?;
    Ok(split_elbv2(
        found.into_iter().filter(|(_, tags)| ctx.owns(tags)),
    ))
}

/// Load balancer and target group ARNs (with their tags), apart.
pub(crate) fn split_elbv2(
    found: impl IntoIterator<Item = (String, Tags)>,
) -> (BTreeMap<String, Tags>, BTreeMap<String, Tags>) {
    let mut lbs = BTreeMap::new();
    let mut tgs = BTreeMap::new();
    for (arn, tags) in found {
        if arn.contains(":loadbalancer/") {
            lbs.insert(arn, tags);
        } else if arn.contains(":targetgroup/") {
            tgs.insert(arn, tags);
        }
    }
    (lbs, tgs)
}

/// The tagging API's filter on the cluster tag.
pub(crate) fn cluster_tag_filter(cluster: &str) -> TagFilter {
    TagFilter::builder()
        .key(TAG_CLUSTER)
        .values(cluster)
        .build()
}

/// Load balancers and target groups matching tag filters, with their tags.
pub(crate) async fn tagged_elbv2(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    filters: Vec<TagFilter>,
) -> Result<Vec<(String, Tags)>, DeployError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .read("GetResources", what, || {
                ctx.clients
                    .tagging
                    .get_resources()
                    .set_tag_filters(Some(filters.clone()))
                    .resource_type_filters(RESOURCE_TYPE_LB)
                    .resource_type_filters(RESOURCE_TYPE_TG)
                    .set_pagination_token(token.clone())
                    .send()
            })
            .await?;
        for mapping in page.resource_tag_mapping_list() {
            let Some(arn) = mapping.resource_arn() else {
                continue;
            };
            let tags: Tags = mapping
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            out.push((arn.to_owned(), tags));
        }
        match page.pagination_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// The IDs of every stack of the cluster and of `ctx`'s kind that owns a load balancer, target
/// group or security group: the values of their `ingress.k8s.aws/stack` (or
/// `service.k8s.aws/stack`) tags.
pub async fn stack_ids(ctx: &Ctx<'_>) -> Result<BTreeSet<String>, DeployError> {
    let cluster = ctx.config.cluster_name.as_str();
    let stack_tag = ctx.kind.stack_tag();
    let what = ResourceRef::new(ResourceType::LoadBalancer, "");
    let filters = vec![
        TagFilter::builder()
            .key(TAG_CLUSTER)
            .values(cluster)
            .build(),
        TagFilter::builder().key(stack_tag).build(),
    ];
    let sg_filters = vec![
        tag_filter(TAG_CLUSTER, cluster),
        ec2::Filter::builder()
            .name("tag-key")
            .values(stack_tag)
            .build(),
    ];
    let sg_what = ResourceRef::new(ResourceType::SecurityGroup, "");
    let (elbv2, groups) = try_join(
        tagged_elbv2(ctx, &what, filters),
        describe_security_groups(ctx, &sg_what, sg_filters),
    )
    .await?;
    let tag_sets = elbv2
        .into_iter()
        .map(|(_, tags)| tags)
        .chain(groups.into_iter().map(|g| g.tags));
    let mut ids = BTreeSet::new();
    for tags in tag_sets {
        if tags.get(TAG_CLUSTER).map(String::as_str) != Some(cluster) {
            continue;
        }
        if let Some(stack) = tags.get(stack_tag)
            && !stack.is_empty()
        {
            ids.insert(stack.clone());
        }
    }
    Ok(ids)
}

fn ec2_tags(tags: &[ec2::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

pub(crate) fn tag_filter(key: &str, value: &str) -> ec2::Filter {
    ec2::Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

async fn tagged_security_groups(
    ctx: &Ctx<'_>,
) -> Result<Vec<Found<ec2::SecurityGroup>>, DeployError> {
    let what = ResourceRef::new(ResourceType::SecurityGroup, ctx.stack_id);
    let filters = vec![
        tag_filter(TAG_CLUSTER, &ctx.config.cluster_name),
        tag_filter(ctx.kind.stack_tag(), ctx.stack_id),
    ];
    describe_security_groups(ctx, &what, filters).await
}

/// Security groups matching EC2 filters, as [`Found`]s (ownership not checked here).
pub async fn describe_security_groups(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    filters: Vec<ec2::Filter>,
) -> Result<Vec<Found<ec2::SecurityGroup>>, DeployError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .read("DescribeSecurityGroups", what, || {
                ctx.clients
                    .ec2
                    .describe_security_groups()
                    .set_filters(Some(filters.clone()))
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for sg in page.security_groups() {
            let Some(id) = sg.group_id() else { continue };
            out.push(Found {
                arn: id.to_owned(),
                tags: ec2_tags(sg.tags()),
                item: sg.clone(),
            });
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// Describes load balancers by ARN in batches; ARNs that vanished meanwhile are skipped.
pub(crate) async fn describe_load_balancers(
    ctx: &Ctx<'_>,
    arns: BTreeMap<String, Tags>,
) -> Result<Vec<Found<elbv2::LoadBalancer>>, DeployError> {
    let what = ResourceRef::new(ResourceType::LoadBalancer, ctx.stack_id);
    let keys: Vec<String> = arns.keys().cloned().collect();
    let describe = |batch: Vec<String>| {
        let what = &what;
        async move {
            ctx.read("DescribeLoadBalancers", what, || {
                ctx.clients
                    .elbv2
                    .describe_load_balancers()
                    .set_load_balancer_arns(Some(batch.clone()))
                    .send()
            })
            .await
            .map(|out| out.load_balancers().to_vec())
        }
    };
    let items = describe_in_batches(keys, describe).await?;
    Ok(items
        .into_iter()
        .filter_map(|lb| {
            let arn = lb.load_balancer_arn()?.to_owned();
            let tags = arns.get(&arn)?.clone();
            Some(Found {
                item: lb,
                arn,
                tags,
            })
        })
        .collect())
}

pub(crate) async fn describe_target_groups(
    ctx: &Ctx<'_>,
    arns: BTreeMap<String, Tags>,
) -> Result<Vec<Found<elbv2::TargetGroup>>, DeployError> {
    let what = ResourceRef::new(ResourceType::TargetGroup, ctx.stack_id);
    let keys: Vec<String> = arns.keys().cloned().collect();
    let describe = |batch: Vec<String>| {
        let what = &what;
        async move {
            ctx.read("DescribeTargetGroups", what, || {
                ctx.clients
                    .elbv2
                    .describe_target_groups()
                    .set_target_group_arns(Some(batch.clone()))
                    .send()
            })
            .await
            .map(|out| out.target_groups().to_vec())
        }
    };
    let items = describe_in_batches(keys, describe).await?;
    Ok(items
        .into_iter()
        .filter_map(|tg| {
            let arn = tg.target_group_arn()?.to_owned();
            let tags = arns.get(&arn)?.clone();
            Some(Found {
                item: tg,
                arn,
                tags,
            })
        })
        .collect())
}

/// Runs a describe-by-ARNs call over batches of [`ARN_BATCH`]; a batch failing with "not
/// found" (the tagging API can lag behind deletions) is retried one ARN at a time, skipping the
/// missing ones.
async fn describe_in_batches<T, F, Fut>(
    arns: Vec<String>,
    describe: F,
) -> Result<Vec<T>, DeployError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, DeployError>>,
{
    let mut out = Vec::new();
    for batch in arns.chunks(ARN_BATCH) {
        match describe(batch.to_vec()).await {
            Ok(items) => out.extend(items),
            Err(err) if err.category() == ErrorCategory::NotFound => {
                for arn in batch {
                    match describe(vec![arn.clone()]).await {
                        Ok(items) => out.extend(items),
                        Err(err) if err.category() == ErrorCategory::NotFound => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(out)
}

/// ELBv2 tags of some ARNs, [`ARN_BATCH`] per call.
pub async fn elbv2_tags(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arns: &[String],
) -> Result<BTreeMap<String, Tags>, DeployError> {
    let calls = arns.chunks(ARN_BATCH).map(|batch| async move {
        ctx.read("DescribeTags", what, || {
            ctx.clients
                .elbv2
                .describe_tags()
                .set_resource_arns(Some(batch.to_vec()))
                .send()
        })
        .await
    });
    let mut out = BTreeMap::new();
    for page in try_join_all(calls).await? {
        for description in page.tag_descriptions() {
            if let Some(arn) = description.resource_arn() {
                out.insert(arn.to_owned(), model_tags(description.tags()));
            }
        }
    }
    Ok(out)
}

/// The listeners of some load balancers, each given with whether its listeners have rules (a
/// network load balancer's have none, so they are not read), with their non-default rules and
/// everyone's tags.
pub async fn listeners(
    ctx: &Ctx<'_>,
    load_balancers: &[(String, bool)],
) -> Result<Vec<FoundListener>, DeployError> {
    let what = ResourceRef::new(ResourceType::Listener, ctx.stack_id);
    let listener_pages = try_join_all(load_balancers.iter().map(|(lb, with_rules)| {
        let what = &what;
        async move {
            describe_listeners(ctx, what, lb)
                .await
                .map(|page| page.into_iter().map(move |l| (l, *with_rules)))
        }
    }))
    .await?;
    let (listeners, with_rules): (Vec<elbv2::Listener>, Vec<bool>) =
        listener_pages.into_iter().flatten().unzip();
    let rule_pages = try_join_all(listeners.iter().zip(&with_rules).map(
        |(listener, with_rules)| {
            let what = &what;
            async move {
                match listener.listener_arn() {
                    Some(arn) if *with_rules => describe_rules(ctx, what, arn).await,
                    _ => Ok(Vec::new()),
                }
            }
        },
    ))
    .await?;

    let mut arns: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.listener_arn().map(str::to_owned))
        .collect();
    arns.extend(
        rule_pages
            .iter()
            .flatten()
            .filter_map(|r| r.rule_arn().map(str::to_owned)),
    );
    let tags = if arns.is_empty() {
        BTreeMap::new()
    } else {
        elbv2_tags(ctx, &what, &arns).await?
    };
    let found = |arn: &str| Found {
        item: (),
        arn: arn.to_owned(),
        tags: tags.get(arn).cloned().unwrap_or_default(),
    };

    let mut out = Vec::new();
    for (listener, rules) in listeners.into_iter().zip(rule_pages) {
        let Some(arn) = listener.listener_arn().map(str::to_owned) else {
            continue;
        };
        let rules = rules
            .into_iter()
            .filter(|r| r.is_default() != Some(true))
            .filter_map(|r| {
                let f = found(r.rule_arn()?);
                Some(Found {
                    item: r,
                    arn: f.arn,
                    tags: f.tags,
                })
            })
            .collect();
        let f = found(&arn);
        out.push(FoundListener {
            listener: Found {
                item: listener,
                arn: f.arn,
                tags: f.tags,
            },
            rules,
        });
    }
    Ok(out)
}

async fn describe_listeners(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    load_balancer_arn: &str,
) -> Result<Vec<elbv2::Listener>, DeployError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .read("DescribeListeners", what, || {
                ctx.clients
                    .elbv2
                    .describe_listeners()
                    .load_balancer_arn(load_balancer_arn)
                    .page_size(PAGE_SIZE)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        out.extend(page.listeners().iter().cloned());
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

async fn describe_rules(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    listener_arn: &str,
) -> Result<Vec<elbv2::Rule>, DeployError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .read("DescribeRules", what, || {
                ctx.clients
                    .elbv2
                    .describe_rules()
                    .listener_arn(listener_arn)
                    .page_size(PAGE_SIZE)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        out.extend(page.rules().iter().cloned());
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}
