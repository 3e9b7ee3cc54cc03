//! Security group inbound rules as a set of single-source permissions, and the plan that turns
//! the actual set into the desired one without opening a gap. (EC2's shapes are converted in
//! the AWS crate.)

use std::collections::BTreeSet;

use crate::stack::IpPermission;

/// Where traffic of one permission comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Ipv4(String),
    Ipv6(String),
    PrefixList(String),
    Group(String),
}

/// One inbound permission with exactly one source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub source: Source,
    pub description: String,
}

impl Permission {
    /// What AWS identifies a rule by (everything but the description).
    pub fn identity(&self) -> (&str, Option<i32>, Option<i32>, &Source) {
        (&self.protocol, self.from_port, self.to_port, &self.source)
    }
}

/// Protocol names as EC2 reports them.
fn normalize_protocol(protocol: &str) -> String {
    match protocol.to_ascii_lowercase().as_str() {
        "6" => "tcp".to_owned(),
        "17" => "udp".to_owned(),
        "1" => "icmp".to_owned(),
        "58" => "icmpv6".to_owned(),
        "all" => "-1".to_owned(),
        other => other.to_owned(),
    }
}

/// Adds one permission per source, with EC2's protocol spelling (and no ports for "all
/// traffic").
pub fn push_all(
    out: &mut BTreeSet<Permission>,
    protocol: &str,
    from_port: Option<i32>,
    to_port: Option<i32>,
    sources: impl IntoIterator<Item = (Source, String)>,
) {
    let protocol = normalize_protocol(protocol);
    // "All traffic" has no ports, whatever was sent.
    let (from_port, to_port) = if protocol == "-1" {
        (None, None)
    } else {
        (from_port, to_port)
    };
    for (source, description) in sources {
        out.insert(Permission {
            protocol: protocol.clone(),
            from_port,
            to_port,
            source,
            description,
        });
    }
}

/// The desired permissions, one per source.
pub fn desired_permissions(permissions: &[IpPermission]) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for p in permissions {
        let sources = p
            .ip_ranges
            .iter()
            .map(|r| (Source::Ipv4(r.cidr_ip.clone()), r.description.clone()))
            .chain(
                p.ipv6_ranges
                    .iter()
                    .map(|r| (Source::Ipv6(r.cidr_ipv6.clone()), r.description.clone())),
            )
            .chain(
                p.prefix_lists
                    .iter()
                    .map(|r| (Source::PrefixList(r.list_id.clone()), r.description.clone())),
            )
            .chain(
                p.user_id_group_pairs
                    .iter()
                    .map(|r| (Source::Group(r.group_id.clone()), r.description.clone())),
            );
        push_all(&mut out, &p.ip_protocol, p.from_port, p.to_port, sources);
    }
    out
}

/// The calls that turn the actual permissions into the desired ones: new sources are allowed
/// before stale ones are revoked; a rule whose description alone changes must be revoked
/// before it can be authorised again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PermissionPlan {
    pub authorize_first: Vec<Permission>,
    pub revoke: Vec<Permission>,
    pub authorize_after_revoke: Vec<Permission>,
}

impl PermissionPlan {
    pub fn is_empty(&self) -> bool {
        self.authorize_first.is_empty()
            && self.revoke.is_empty()
            && self.authorize_after_revoke.is_empty()
    }
}

pub fn plan_permissions(
    desired: &BTreeSet<Permission>,
    actual: &BTreeSet<Permission>,
) -> PermissionPlan {
    let revoke: Vec<Permission> = actual.difference(desired).cloned().collect();
    let revoked: BTreeSet<_> = revoke.iter().map(Permission::identity).collect();
    let (authorize_after_revoke, authorize_first) = desired
        .difference(actual)
        .cloned()
        .partition(|p| revoked.contains(&p.identity()));
    PermissionPlan {
        authorize_first,
        revoke,
        authorize_after_revoke,
    }
}
