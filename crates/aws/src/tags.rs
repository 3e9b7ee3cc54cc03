//! Ownership and tag reconciliation: what a resource of ours must carry, whether a found
//! resource is ours, and which tag changes bring a resource in line.
//!
//! Every function takes the stack's [`StackKind`]: an IngressGroup's resources carry
//! `ingress.k8s.aws/stack` and `ingress.k8s.aws/resource`, a Service's `service.k8s.aws/stack`
//! and `service.k8s.aws/resource` (both with the shared `elbv2.k8s.aws/cluster`). A Service's
//! stack ID (`ns/name`) is spelled like an implicit IngressGroup's, so the kind is what keeps
//! the two apart: a resource is only ever owned by the stack whose kind's keys name it.

use std::collections::BTreeSet;

use model::stack::StackKind;
use model::tags::{LEGACY_TAG_CLUSTER, TAG_CLUSTER, Tags};

/// Prefix of the Kubernetes cloud-provider cluster tags, which we never remove.
const LEGACY_CLUSTER_PREFIX: &str = "kubernetes.io/cluster/";
/// AWS-reserved keys; immutable.
const AWS_PREFIX: &str = "aws:";

/// The tags a resource of the stack carries: its user tags plus the tracking tags of its kind,
/// which win.
pub fn desired_tags(
    user: &Tags,
    kind: StackKind,
    cluster: &str,
    stack: &str,
    resource_id: &str,
) -> Tags {
    let mut tags = user.clone();
    tags.insert(TAG_CLUSTER.to_owned(), cluster.to_owned());
    tags.insert(kind.stack_tag().to_owned(), stack.to_owned());
    tags.insert(kind.resource_tag().to_owned(), resource_id.to_owned());
    tags
}

/// Whether a resource's tags say it belongs to this cluster's stack of this kind.
pub fn is_owned(tags: &Tags, kind: StackKind, cluster: &str, stack: &str) -> bool {
    tags.get(TAG_CLUSTER).map(String::as_str) == Some(cluster)
        && tags.get(kind.stack_tag()).map(String::as_str) == Some(stack)
}

/// The resource ID a resource of ours carries under its kind's key, if any.
pub fn resource_id(tags: &Tags, kind: StackKind) -> Option<&str> {
    tags.get(kind.resource_tag()).map(String::as_str)
}

/// A stack's own load balancer among those it owns, by their resource IDs: the one tagged
/// `LoadBalancer`, else any but the frontend NLB (which has its own scheme and subnets).
pub fn main_load_balancer<T>(
    load_balancers: &[T],
    resource_id: impl for<'t> Fn(&'t T) -> Option<&'t str>,
) -> Option<&T> {
    let tagged_as = |lb: &T, id: &str| resource_id(lb) == Some(id);
    load_balancers
        .iter()
        .find(|lb| tagged_as(lb, model::stack::resource_id::LOAD_BALANCER))
        .or_else(|| {
            load_balancers
                .iter()
                .find(|lb| !tagged_as(lb, model::stack::resource_id::FRONTEND_NLB))
        })
}

/// The other kind of stack, whose tags name someone else.
pub fn other_kind(kind: StackKind) -> StackKind {
    match kind {
        StackKind::Ingress => StackKind::Service,
        StackKind::Service => StackKind::Ingress,
    }
}

/// Tag changes for one resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagDiff {
    /// Keys to set (new or with a different value).
    pub add: Tags,
    /// Keys to remove.
    pub remove: Vec<String>,
}

impl TagDiff {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Keys we leave alone: AWS's own, the legacy cluster tags, and `--external-managed-tags`.
fn unmanaged(key: &str, external_managed: &BTreeSet<String>) -> bool {
    key.starts_with(AWS_PREFIX)
        || key.starts_with(LEGACY_CLUSTER_PREFIX)
        || key == LEGACY_TAG_CLUSTER
        || external_managed.contains(key)
}

/// What to add and remove so that `actual` matches `desired`, leaving unmanaged keys alone.
pub fn diff_tags(desired: &Tags, actual: &Tags, external_managed: &BTreeSet<String>) -> TagDiff {
    let add = desired
        .iter()
        .filter(|(k, v)| !unmanaged(k, external_managed) && actual.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = actual
        .keys()
        .filter(|k| !desired.contains_key(*k) && !unmanaged(k, external_managed))
        .cloned()
        .collect();
    TagDiff { add, remove }
}
