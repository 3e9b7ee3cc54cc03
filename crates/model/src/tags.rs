//! AWS tags: the tracking tags that tie a resource to its cluster, stack and resource ID, and
//! the precedence between the user's tag sources.
//!
//! User tags come from `--default-tags`, the IngressClassParams `tags`, and the `tags`
//! annotation (on the Ingress, and on the Service for target groups). IngressClassParams tags
//! beat annotation tags; the Service annotation beats the Ingress annotation; `--default-tags`
//! beat both unless the `EnableDefaultTagsLowPriority` gate makes them lowest. Tracking tags
//! are added last and always win.

use std::collections::{BTreeMap, BTreeSet};

use crate::group::GroupId;

/// The cluster a resource belongs to.
pub const TAG_CLUSTER: &str = "elbv2.k8s.aws/cluster";
/// `elbv2.k8s.aws/resource`: used on the backend security group (`backend-sg`).
pub const TAG_ELBV2_RESOURCE: &str = "elbv2.k8s.aws/resource";
/// The stack (IngressGroup ID) a resource belongs to.
pub const TAG_INGRESS_STACK: &str = "ingress.k8s.aws/stack";
/// The resource ID within the stack.
pub const TAG_INGRESS_RESOURCE: &str = "ingress.k8s.aws/resource";
/// Stack tag of Service (NLB) stacks.
pub const TAG_SERVICE_STACK: &str = "service.k8s.aws/stack";
/// Resource tag of Service (NLB) stacks.
pub const TAG_SERVICE_RESOURCE: &str = "service.k8s.aws/resource";
/// The v1 ALB ingress controller's cluster tag: matched when finding resources, never removed.
pub const LEGACY_TAG_CLUSTER: &str = "ingress.k8s.aws/cluster";
/// Value of [`TAG_ELBV2_RESOURCE`] on the backend security group.
pub const BACKEND_SECURITY_GROUP_RESOURCE: &str = "backend-sg";

/// Tag keys reserved for tracking; `--default-tags` and `--external-managed-tags` may not use them.
pub const TRACKING_TAG_KEYS: [&str; 6] = [
    TAG_CLUSTER,
    TAG_ELBV2_RESOURCE,
    TAG_INGRESS_STACK,
    TAG_INGRESS_RESOURCE,
    TAG_SERVICE_STACK,
    TAG_SERVICE_RESOURCE,
];

/// Label on controller-created TargetGroupBindings of explicit groups.
pub const LABEL_STACK: &str = "ingress.k8s.aws/stack";
/// Labels on controller-created TargetGroupBindings of implicit groups.
pub const LABEL_STACK_NAMESPACE: &str = "ingress.k8s.aws/stack-namespace";
pub const LABEL_STACK_NAME: &str = "ingress.k8s.aws/stack-name";

/// Labels on controller-created TargetGroupBindings of Services (NLBs).
pub const LABEL_SERVICE_STACK_NAMESPACE: &str = "service.k8s.aws/stack-namespace";
pub const LABEL_SERVICE_STACK_NAME: &str = "service.k8s.aws/stack-name";

/// The labels of a Service's TargetGroupBindings.
pub fn service_binding_labels(namespace: &str, name: &str) -> Tags {
    Tags::from([
        (
            LABEL_SERVICE_STACK_NAMESPACE.to_owned(),
            namespace.to_owned(),
        ),
        (LABEL_SERVICE_STACK_NAME.to_owned(), name.to_owned()),
    ])
}

pub type Tags = BTreeMap<String, String>;

/// A tag set that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("tag key {key} cannot be specified in default-tags flag")]
    ReservedInDefaultTags { key: String },
    #[error("tag key {key} cannot be specified in external-managed-tags flag")]
    ReservedInExternalManagedTags { key: String },
    /// `owner` names where the tag came from, e.g. `Ingress ns/name`.
    #[error("failed build tags for {owner}: external managed tag key {key} cannot be specified")]
    ExternalManagedKey { owner: String, key: String },
    #[error("conflicting tag {key}: {first} | {second}")]
    Conflict {
        key: String,
        first: String,
        second: String,
    },
}

/// Checks `--default-tags` against the tracking keys.
pub fn validate_default_tags(default_tags: &Tags) -> Result<(), TagError> {
    match TRACKING_TAG_KEYS
        .iter()
        .find(|key| default_tags.contains_key(**key))
    {
        Some(key) => Err(TagError::ReservedInDefaultTags {
            key: (*key).to_owned(),
        }),
        None => Ok(()),
    }
}

/// Checks `--external-managed-tags` against the tracking keys.
pub fn validate_external_managed_tags(keys: &BTreeSet<String>) -> Result<(), TagError> {
    match TRACKING_TAG_KEYS.iter().find(|key| keys.contains(**key)) {
        Some(key) => Err(TagError::ReservedInExternalManagedTags {
            key: (*key).to_owned(),
        }),
        None => Ok(()),
    }
}

fn reject_external_managed(
    tags: &Tags,
    external_managed: &BTreeSet<String>,
    owner: impl FnOnce() -> String,
) -> Result<(), TagError> {
    match tags.keys().find(|key| external_managed.contains(*key)) {
        Some(key) => Err(TagError::ExternalManagedKey {
            owner: owner(),
            key: key.clone(),
        }),
        None => Ok(()),
    }
}

/// `first` with the keys of `rest` it lacks; earlier sources win.
fn merge_first_wins<'a>(sources: impl IntoIterator<Item = &'a Tags>) -> Tags {
    let mut merged = Tags::new();
    for source in sources {
        for (key, value) in source {
            merged.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    merged
}

/// Where the user tags of one Ingress come from.
#[derive(Clone, Copy, Debug)]
pub struct MemberTagSources<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// The `tags` annotation of the Ingress.
    pub annotation: &'a Tags,
    /// The name and `tags` of the Ingress's IngressClassParams, if it has one.
    pub class_params: Option<(&'a str, &'a Tags)>,
}

fn class_params_tags(
    class_params: Option<(&str, &Tags)>,
    external_managed: &BTreeSet<String>,
) -> Result<Tags, TagError> {
    match class_params {
        Some((params_name, tags)) => {
            reject_external_managed(tags, external_managed, || {
                format!("IngressClassParams {params_name}")
            })?;
            Ok(tags.clone())
        }
        None => Ok(Tags::new()),
    }
}

/// The user tags of one Ingress (its listener rules): IngressClassParams tags over the
/// annotation's. Keys in `--external-managed-tags` are refused.
pub fn member_tags(
    member: &MemberTagSources<'_>,
    external_managed: &BTreeSet<String>,
) -> Result<Tags, TagError> {
    reject_external_managed(member.annotation, external_managed, || {
        format!("Ingress {}/{}", member.namespace, member.name)
    })?;
    let class_tags = class_params_tags(member.class_params, external_managed)?;
    Ok(merge_first_wins([&class_tags, member.annotation]))
}

/// The user tags of the resources one Ingress backend gets (target group): IngressClassParams
/// tags over the Service annotation's over the Ingress annotation's.
pub fn backend_tags(
    member: &MemberTagSources<'_>,
    service_namespace: &str,
    service_name: &str,
    service_annotation: &Tags,
    external_managed: &BTreeSet<String>,
) -> Result<Tags, TagError> {
    let annotations = merge_first_wins([service_annotation, member.annotation]);
    reject_external_managed(&annotations, external_managed, || {
        format!(
            "Ingress {}/{} and Service {service_namespace}/{service_name}",
            member.namespace, member.name
        )
    })?;
    let class_tags = class_params_tags(member.class_params, external_managed)?;
    Ok(merge_first_wins([&class_tags, &annotations]))
}

/// The user tags of the group-wide resources (load balancer, security group, listeners): the
/// members' tags, in member order, which must agree on every key they share.
pub fn group_tags<'a>(members: impl IntoIterator<Item = &'a Tags>) -> Result<Tags, TagError> {
    let mut merged = Tags::new();
    for tags in members {
        for (key, value) in tags {
            match merged.get(key) {
                Some(first) if first != value => {
                    return Err(TagError::Conflict {
                        key: key.clone(),
                        first: first.clone(),
                        second: value.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
    }
    Ok(merged)
}

/// Adds `--default-tags` to user tags: the defaults win unless `defaults_low_priority`
/// (`EnableDefaultTagsLowPriority`) is set.
pub fn with_default_tags(
    user_tags: &Tags,
    default_tags: &Tags,
    defaults_low_priority: bool,
) -> Tags {
    if defaults_low_priority {
        merge_first_wins([user_tags, default_tags])
    } else {
        merge_first_wins([default_tags, user_tags])
    }
}

/// The tags that say which cluster and stack a resource belongs to.
pub fn stack_tags(cluster_name: &str, stack_id: &GroupId) -> Tags {
    Tags::from([
        (TAG_CLUSTER.to_owned(), cluster_name.to_owned()),
        (TAG_INGRESS_STACK.to_owned(), stack_id.to_string()),
    ])
}

/// The full tracking tags of one resource of a stack.
pub fn tracking_tags(cluster_name: &str, stack_id: &GroupId, resource_id: &str) -> Tags {
    let mut tags = stack_tags(cluster_name, stack_id);
    tags.insert(TAG_INGRESS_RESOURCE.to_owned(), resource_id.to_owned());
    tags
}

/// The tags a resource is created with: its user tags plus the tracking tags, which override
/// any user tag of the same key (as upstream does).
pub fn with_tracking_tags(
    user_tags: &Tags,
    cluster_name: &str,
    stack_id: &GroupId,
    resource_id: &str,
) -> Tags {
    let tracking = tracking_tags(cluster_name, stack_id, resource_id);
    merge_first_wins([&tracking, user_tags])
}

/// The labels of a TargetGroupBinding the controller creates for a stack.
pub fn target_group_binding_labels(stack_id: &GroupId) -> Tags {
    match stack_id {
        GroupId::Explicit { name } => Tags::from([(LABEL_STACK.to_owned(), name.clone())]),
        GroupId::Implicit { namespace, name } => Tags::from([
            (LABEL_STACK_NAMESPACE.to_owned(), namespace.clone()),
            (LABEL_STACK_NAME.to_owned(), name.clone()),
        ]),
    }
}

#[cfg(test)]
mod tests;
