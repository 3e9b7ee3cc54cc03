//! Whose a listener or rule on one of our load balancers is.
//!
//! Load balancers, target groups and security groups are ours only when they carry our cluster
//! and stack tags. Listeners and rules are judged by where they sit instead: upstream
//! controllers without the `ListenerRulesTagging` feature (or with it off), and people at the
//! console, made listeners and rules without tags, so on a load balancer of ours a listener or
//! rule that names no other owner is ours by position (listener port, rule priority and
//! content). When it is kept, the deploy adds our tags to it (`AddTags`); when it is no longer
//! wanted, it is deleted like any other of ours.
//!
//! A listener or rule that names another owner — a different `elbv2.k8s.aws/cluster` (or
//! legacy `ingress.k8s.aws/cluster`) value, a different stack under the stack's own kind's key
//! (`ingress.k8s.aws/stack` for an IngressGroup, `service.k8s.aws/stack` for a Service), or
//! any stack under the other kind's key (whatever its value: a Service `ns/x` and an Ingress
//! `ns/x` are different stacks) — is never adopted, changed or deleted. It is reported as a [`ForeignResource`]; when it sits where the stack
//! wants one of its own (the same port, the same priority) the deploy stops with
//! [`DeployError::OwnedByOther`](super::error::DeployError::OwnedByOther) instead of creating
//! a duplicate.

use std::fmt;

use serde::Serialize;

use model::stack::StackKind;
use model::tags::{LEGACY_TAG_CLUSTER, TAG_CLUSTER, Tags};

use super::resource_ref::ResourceRef;
use super::tags::{is_owned, other_kind};

/// The owner another resource's tracking tags name (`None`: that tag is absent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Owner {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(v) => format!("{v:?}"),
            None => "(untagged)".to_owned(),
        };
        write!(
            f,
            "cluster {} stack {}",
            show(&self.cluster),
            show(&self.stack)
        )
    }
}

/// Whose a listener or rule found on a load balancer of ours is, by its tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Our cluster's and stack's tags.
    Ours,
    /// No tag naming another owner (no tracking tags at all, or only some of ours): ours to
    /// adopt by position.
    Unclaimed,
    /// Another cluster's or stack's tags: left alone.
    Foreign(Owner),
}

impl Ownership {
    pub fn is_foreign(&self) -> bool {
        matches!(self, Self::Foreign(_))
    }
}

/// Judges the tags of a listener or rule on a load balancer of `cluster`'s `stack` of `kind`.
pub fn ownership(tags: &Tags, kind: StackKind, cluster: &str, stack: &str) -> Ownership {
    if is_owned(tags, kind, cluster, stack) {
        return Ownership::Ours;
    }
    let other_cluster = [TAG_CLUSTER, LEGACY_TAG_CLUSTER]
        .iter()
        .filter_map(|k| tags.get(*k))
        .any(|v| v != cluster);
    // Any stack of the other kind is someone else's, whatever its ID.
    let other = other_kind(kind);
    let other_stack = tags.get(kind.stack_tag()).is_some_and(|v| v != stack)
        || tags.contains_key(other.stack_tag());
    if !other_cluster && !other_stack {
        return Ownership::Unclaimed;
    }
    Ownership::Foreign(Owner {
        cluster: tags
            .get(TAG_CLUSTER)
            .or_else(|| tags.get(LEGACY_TAG_CLUSTER))
            .cloned(),
        stack: tags
            .get(kind.stack_tag())
            .or_else(|| tags.get(other.stack_tag()))
            .cloned(),
    })
}

/// A listener or rule on a load balancer of the stack that belongs to someone else and was
/// left alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForeignResource {
    /// Its type, and its position as a resource ID of ours would spell it (`<port>` for a
    /// listener, `<port>:<priority>` for a rule).
    #[serde(flatten)]
    pub resource: ResourceRef,
    #[serde(rename = "awsID")]
    pub aws_id: String,
    /// Whose tags it carries.
    pub owner: Owner,
}

impl fmt::Display for ForeignResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) belongs to {}; left alone",
            self.resource, self.aws_id, self.owner
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::tags::{
        TAG_INGRESS_RESOURCE, TAG_INGRESS_STACK, TAG_SERVICE_RESOURCE, TAG_SERVICE_STACK,
    };

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn judge(pairs: &[(&str, &str)]) -> Ownership {
        ownership(&tags(pairs), StackKind::Ingress, "c1", "ns/ing")
    }

    fn judge_service(pairs: &[(&str, &str)]) -> Ownership {
        ownership(&tags(pairs), StackKind::Service, "c1", "ns/ing")
    }

    #[test]
    fn our_tags_are_ours() {
        let ours = [
            (TAG_CLUSTER, "c1"),
            (TAG_INGRESS_STACK, "ns/ing"),
            (TAG_INGRESS_RESOURCE, "80"),
        ];
        assert_eq!(judge(&ours), Ownership::Ours);
    }

    #[test]
    fn no_owner_named_is_unclaimed() {
        assert_eq!(judge(&[]), Ownership::Unclaimed);
        assert_eq!(judge(&[("owner", "team-a")]), Ownership::Unclaimed);
        // Half of our tags (an interrupted AddTags) names no one else.
        assert_eq!(judge(&[(TAG_CLUSTER, "c1")]), Ownership::Unclaimed);
        assert_eq!(
            judge(&[(TAG_INGRESS_STACK, "ns/ing")]),
            Ownership::Unclaimed
        );
        assert_eq!(
            judge(&[(TAG_INGRESS_RESOURCE, "80:1")]),
            Ownership::Unclaimed
        );
        assert_eq!(
            judge(&[(LEGACY_TAG_CLUSTER, "c1"), (TAG_INGRESS_STACK, "ns/ing")]),
            Ownership::Unclaimed
        );
    }

    #[test]
    fn another_stack_or_cluster_is_foreign_and_named() {
        assert_eq!(
            judge(&[(TAG_CLUSTER, "c1"), (TAG_INGRESS_STACK, "ns/other")]),
            Ownership::Foreign(Owner {
                cluster: Some("c1".into()),
                stack: Some("ns/other".into()),
            })
        );
        assert_eq!(
            judge(&[(TAG_CLUSTER, "c2"), (TAG_INGRESS_STACK, "ns/ing")]),
            Ownership::Foreign(Owner {
                cluster: Some("c2".into()),
                stack: Some("ns/ing".into()),
            })
        );
        // Another stack without a cluster tag, another cluster without a stack tag.
        let no_cluster = judge(&[(TAG_INGRESS_STACK, "ns/other")]);
        assert_eq!(
            no_cluster,
            Ownership::Foreign(Owner {
                cluster: None,
                stack: Some("ns/other".into()),
            })
        );
        assert!(judge(&[(TAG_CLUSTER, "c2")]).is_foreign());
        // The v1 controller's cluster key counts as a claim too.
        assert_eq!(
            judge(&[(LEGACY_TAG_CLUSTER, "c2")]),
            Ownership::Foreign(Owner {
                cluster: Some("c2".into()),
                stack: None,
            })
        );
        assert!(judge(&[(TAG_CLUSTER, "c1"), (LEGACY_TAG_CLUSTER, "c2")]).is_foreign());
        assert_eq!(
            judge(&[(TAG_CLUSTER, "c1"), (TAG_SERVICE_STACK, "ns/svc")]),
            Ownership::Foreign(Owner {
                cluster: Some("c1".into()),
                stack: Some("ns/svc".into()),
            })
        );
    }

    #[test]
    fn a_service_stack_and_an_ingress_stack_of_one_id_are_strangers() {
        let service = [
            (TAG_CLUSTER, "c1"),
            (TAG_SERVICE_STACK, "ns/ing"),
            (TAG_SERVICE_RESOURCE, "80"),
        ];
        let ingress = [
            (TAG_CLUSTER, "c1"),
            (TAG_INGRESS_STACK, "ns/ing"),
            (TAG_INGRESS_RESOURCE, "80"),
        ];
        assert_eq!(judge_service(&service), Ownership::Ours);
        assert!(judge(&service).is_foreign());
        assert!(judge_service(&ingress).is_foreign());
        assert_eq!(
            judge_service(&ingress),
            Ownership::Foreign(Owner {
                cluster: Some("c1".into()),
                stack: Some("ns/ing".into()),
            })
        );
        // Untagged, or only half of ours: adopted by position, as for Ingress stacks.
        assert_eq!(judge_service(&[]), Ownership::Unclaimed);
        assert_eq!(
            judge_service(&[(TAG_SERVICE_STACK, "ns/ing")]),
            Ownership::Unclaimed
        );
        assert!(judge_service(&[(TAG_SERVICE_STACK, "ns/other")]).is_foreign());
        assert!(judge_service(&[(TAG_CLUSTER, "c2"), (TAG_SERVICE_STACK, "ns/ing")]).is_foreign());
    }

    #[test]
    fn the_owner_reads_well() {
        let owner = Owner {
            cluster: None,
            stack: Some("ns/other".into()),
        };
        assert_eq!(owner.to_string(), "cluster (untagged) stack \"ns/other\"");
        let foreign = ForeignResource {
            resource: ResourceRef::new(model::stack::ResourceType::ListenerRule, "80:7"),
            aws_id: "arn:rule".into(),
            owner,
        };
        let text = foreign.to_string();
        assert!(text.contains("80:7") && text.contains("arn:rule"), "{text}");
        assert!(text.contains("\"ns/other\""), "{text}");
    }
}
