//! The security-group rules of TargetGroupBinding `spec.networking`: inbound rules on the
//! targets' security groups that let the load balancer (or any peer the binding names) reach
//! them.
//!
//! * Which group: each target's ENI (ip mode: the ENI holding the pod IP; instance mode: the
//!   instance's primary ENI) has one security group that takes the rules — its only group, else
//!   the single one tagged `kubernetes.io/cluster/<cluster>` and carrying every tag of
//!   `--service-target-eni-security-group-tags` ([`select_group`]).
//! * What a binding wants on each group ([`binding_permissions`]): every `from` peer × every
//!   port, TCP unless UDP is named, all ports when the port is absent, a named port resolved
//!   against the pods' named ports (ip mode only). Every rule carries the description
//!   [`RULE_LABEL`].
//! * The rules of a group are the union over all bindings ([`aggregate`]); by default, rules
//!   from one source group and protocol are merged into one port range (upstream's restricted
//!   rules; `--disable-restricted-sg-rules` keeps them apart).
//! * Only rules carrying [`RULE_LABEL`] are ever revoked ([`plan`]); a rule someone else made
//!   that already allows the traffic is left alone and not duplicated.
//!
//! [`NetworkingManager`] keeps every binding's contribution (shared by the binding workers) and
//! drives a [`TargetSecurityGroups`] backend: EC2 in [`super::networking_aws`], a fake in
//! [`super::fakes`].

use std::collections::{BTreeMap, BTreeSet};

use contract::crd::{NetworkingPeer, NetworkingProtocol, TargetGroupBindingNetworking};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::backends::{BackendError, BoxFuture};
use model::sg_rules::{Permission, Source};

/// The description of every rule this controller adds to a target security group; the only
/// rules it ever revokes.
pub const RULE_LABEL: &str = "elbv2.k8s.aws/targetGroupBinding=shared";
/// The port range of "all ports".
const ALL_PORTS: (i32, i32) = (0, 65_535);

/// How a binding's targets are addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetMode {
    /// Pod IPs.
    Ip,
    /// EC2 instance IDs.
    Instance,
}

/// One target, as the networking rules see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkEndpoint {
    /// Pod IP (ip mode) or EC2 instance ID (instance mode).
    pub id: String,
    /// How errors name it: the pod (`ns/name`) or the node, else the ID.
    pub name: String,
    /// Named ports of the pod behind it (ip mode).
    pub named_ports: BTreeMap<String, i32>,
}

/// A binding's targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkTargets {
    pub mode: TargetMode,
    pub endpoints: Vec<NetworkEndpoint>,
}

/// A network interface and its security groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Eni {
    pub id: String,
    pub security_groups: Vec<String>,
}

/// The permissions one binding wants, by target security group ID.
pub type Contribution = BTreeMap<String, BTreeSet<Permission>>;
/// Inbound rules by security group ID.
pub type RulesByGroup = BTreeMap<String, BTreeSet<Permission>>;
/// Tags by security group ID.
pub type TagsByGroup = BTreeMap<String, BTreeMap<String, String>>;

/// What networking talks to: EC2, or a fake.
pub trait TargetSecurityGroups: Send + Sync {
    /// The ENI of each target ID found (pod IPs in ip mode, instance IDs in instance mode);
    /// IDs without an ENI are absent.
    fn enis<'a>(
        &'a self,
        mode: TargetMode,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, Eni>, BackendError>>;
    /// The tags of these security groups (groups that do not exist are absent).
    fn tags<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> BoxFuture<'a, Result<TagsByGroup, BackendError>>;
    /// The inbound rules of these security groups, one source each (groups that do not exist
    /// are absent).
    fn ingress<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> BoxFuture<'a, Result<RulesByGroup, BackendError>>;
    /// The security groups of the VPC tagged for the cluster (rules may be left on them from
    /// before a restart).
    fn cluster_groups(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>>;
    /// Adds inbound rules (one call).
    fn authorize<'a>(
        &'a self,
        group_id: &'a str,
        permissions: &'a [Permission],
    ) -> BoxFuture<'a, Result<(), BackendError>>;
    /// Removes inbound rules (one call).
    fn revoke<'a>(
        &'a self,
        group_id: &'a str,
        permissions: &'a [Permission],
    ) -> BoxFuture<'a, Result<(), BackendError>>;
}

/// Why a binding's networking cannot be reconciled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkingError {
    #[error("cannot resolve pod ENI for pods: {}", go_list(.0))]
    PodEni(Vec<String>),
    #[error("cannot resolve node ENI for nodes: {}", go_list(.0))]
    NodeEni(Vec<String>),
    #[error(
        "expected exactly one securityGroup tagged with {} for eni {eni}, got: {} (clusterName: {cluster})",
        wanted_tags(.tag, .required),
        go_list(.got)
    )]
    GroupSelection {
        /// The cluster tag key.
        tag: String,
        /// The extra tags (`--service-target-eni-security-group-tags`) a group had to carry.
        required: BTreeMap<String, String>,
        eni: String,
        /// The groups that matched (none, or more than one).
        got: Vec<String>,
        cluster: String,
    },
    #[error(
        "networking.ingress[].ports[].port {port:?}: named ports can only be used with pod endpoints"
    )]
    NamedPortWithoutPods { port: String },
    #[error("networking.ingress[].ports[].port {port:?}: unable to find port {port} on pod {pod}")]
    NamedPortNotFound { port: String, pod: String },
    #[error("networking.ingress[].from[].ipBlock.cidr {cidr:?} is not a CIDR block: {reason}")]
    Cidr { cidr: String, reason: String },
    #[error("networking.ingress[].from[]: either ipBlock or securityGroup should be specified")]
    NoPeer,
    #[error("{0}")]
    Aws(BackendError),
}

impl NetworkingError {
    /// A stable category for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Aws(e) => e.category,
            Self::PodEni(_) | Self::NodeEni(_) | Self::GroupSelection { .. } => "networking",
            _ => "spec",
        }
    }
}

/// Go's `%v` of a string slice: `[a b c]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// How the selection error names the tags a group needed: the cluster tag key, then (when
/// given) the extra tags as Go prints a map, `map[k1:v1 k2:v2]`.
fn wanted_tags(cluster_tag: &str, required: &BTreeMap<String, String>) -> String {
    if required.is_empty() {
        return cluster_tag.to_owned();
    }
    let pairs: Vec<String> = required.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{cluster_tag} and map[{}]", pairs.join(" "))
}

/// The security group of `eni` that takes the rules: its only group, else the single one
/// tagged `kubernetes.io/cluster/<cluster>` (any value) that also carries every tag of
/// `required` with the same value (`tags` by group ID; `required` is
/// `--service-target-eni-security-group-tags`, usually empty).
pub fn select_group(
    eni: &Eni,
    tags: &TagsByGroup,
    cluster: &str,
    required: &BTreeMap<String, String>,
) -> Result<String, NetworkingError> {
    if let [only] = eni.security_groups.as_slice() {
        return Ok(only.clone());
    }
    let tag = format!("kubernetes.io/cluster/{cluster}");
    let matches = |group_tags: &BTreeMap<String, String>| {
        group_tags.contains_key(&tag)
            && required
                .iter()
                .all(|(k, v)| group_tags.get(k).is_some_and(|have| have == v))
    };
    let tagged: BTreeSet<&String> = eni
        .security_groups
        .iter()
        .filter(|g| tags.get(*g).is_some_and(matches))
        .collect();
    match tagged.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => Ok((*one).clone()),
        many => Err(NetworkingError::GroupSelection {
            tag,
            required: required.clone(),
            eni: eni.id.clone(),
            got: many.iter().map(|g| (*g).clone()).collect(),
            cluster: cluster.to_owned(),
        }),
    }
}

/// The source of a peer.
fn peer_source(peer: &NetworkingPeer) -> Result<Source, NetworkingError> {
    if let Some(group) = &peer.security_group {
        return Ok(Source::Group(group.group_id.clone()));
    }
    let Some(block) = &peer.ip_block else {
        return Err(NetworkingError::NoPeer);
    };
    let cidr = block.cidr.clone();
    let invalid = |reason: &str| NetworkingError::Cidr {
        cidr: cidr.clone(),
        reason: reason.to_owned(),
    };
    let (address, prefix) = cidr
        .split_once('/')
        .ok_or_else(|| invalid("no /prefix length"))?;
    let address: std::net::IpAddr = address
        .parse()
        .map_err(|_| invalid("the address is not an IP address"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| invalid("the prefix length is not a number"))?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(invalid(&format!("the prefix length is above {max}")));
    }
    Ok(if address.is_ipv4() {
        Source::Ipv4(cidr)
    } else {
        Source::Ipv6(cidr)
    })
}

/// The port ranges one `ports[]` entry opens on `endpoints`.
fn port_ranges(
    port: Option<&IntOrString>,
    mode: TargetMode,
    endpoints: &[&NetworkEndpoint],
) -> Result<BTreeSet<(i32, i32)>, NetworkingError> {
    match port {
        None => Ok(BTreeSet::from([ALL_PORTS])),
        Some(IntOrString::Int(n)) => Ok(BTreeSet::from([(*n, *n)])),
        Some(IntOrString::String(name)) => {
            if mode == TargetMode::Instance {
                return Err(NetworkingError::NamedPortWithoutPods { port: name.clone() });
            }
            endpoints
                .iter()
                .map(|e| {
                    e.named_ports.get(name).map(|p| (*p, *p)).ok_or_else(|| {
                        NetworkingError::NamedPortNotFound {
                            port: name.clone(),
                            pod: e.name.clone(),
                        }
                    })
                })
                .collect()
        }
    }
}

/// The permissions `networking` asks for on the group of `endpoints` (a binding's targets
/// behind one security group). An empty `ports` list opens every TCP port.
pub fn binding_permissions(
    networking: &TargetGroupBindingNetworking,
    mode: TargetMode,
    endpoints: &[&NetworkEndpoint],
) -> Result<BTreeSet<Permission>, NetworkingError> {
    let all_tcp = [contract::crd::NetworkingPort {
        protocol: Some(NetworkingProtocol::Tcp),
        port: None,
    }];
    let mut out = BTreeSet::new();
    for rule in networking.ingress.iter().flatten() {
        let ports = if rule.ports.is_empty() {
            &all_tcp[..]
        } else {
            &rule.ports[..]
        };
        for peer in &rule.from {
            let source = peer_source(peer)?;
            for port in ports {
                let protocol = match port.protocol {
                    Some(NetworkingProtocol::Udp) => "udp",
                    _ => "tcp",
                };
                for (from, to) in port_ranges(port.port.as_ref(), mode, endpoints)? {
                    out.insert(Permission {
                        protocol: protocol.to_owned(),
                        from_port: Some(from),
                        to_port: Some(to),
                        source: source.clone(),
                        description: RULE_LABEL.to_owned(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The rules every group needs: the union of the bindings' contributions. With `restricted`
/// (the default), the rules from one source group with one protocol become a single rule from
/// the lowest to the highest port; CIDR rules stay as they are.
pub fn aggregate<'a>(
    contributions: impl IntoIterator<Item = &'a Contribution>,
    restricted: bool,
) -> Contribution {
    let mut union = Contribution::new();
    for contribution in contributions {
        for (group, permissions) in contribution {
            union
                .entry(group.clone())
                .or_default()
                .extend(permissions.iter().cloned());
        }
    }
    if !restricted {
        return union;
    }
    union
        .into_iter()
        .map(|(group, permissions)| (group, merge_group_sources(permissions)))
        .collect()
}

/// Merges the port ranges of rules sharing a source group and protocol.
fn merge_group_sources(permissions: BTreeSet<Permission>) -> BTreeSet<Permission> {
    let mut ranges: BTreeMap<(String, String), (i32, i32)> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for p in permissions {
        let Source::Group(group) = &p.source else {
            out.insert(p);
            continue;
        };
        let (from, to) = match (p.from_port, p.to_port) {
            (Some(0), Some(0)) | (None, _) | (_, None) => ALL_PORTS,
            (Some(from), Some(to)) => (from, to),
        };
        ranges
            .entry((p.protocol.clone(), group.clone()))
            .and_modify(|r| *r = (r.0.min(from), r.1.max(to)))
            .or_insert((from, to));
    }
    for ((protocol, group), (from, to)) in ranges {
        out.insert(Permission {
            protocol,
            from_port: Some(from),
            to_port: Some(to),
            source: Source::Group(group),
            description: RULE_LABEL.to_owned(),
        });
    }
    out
}

/// The calls that make one group's labelled rules match `desired`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RulePlan {
    /// Wanted rules no existing rule (ours or not) already is.
    pub authorize: Vec<Permission>,
    /// Our labelled rules nobody wants any more.
    pub revoke: Vec<Permission>,
}

impl RulePlan {
    pub fn is_empty(&self) -> bool {
        self.authorize.is_empty() && self.revoke.is_empty()
    }
}

/// What AWS identifies a rule by (everything but the description).
fn identity(p: &Permission) -> (&str, Option<i32>, Option<i32>, &Source) {
    (&p.protocol, p.from_port, p.to_port, &p.source)
}

/// Compares the desired rules of a group with all of its actual rules: only rules labelled
/// [`RULE_LABEL`] are revoked; a wanted rule that exists under another description counts as
/// present.
pub fn plan(desired: &BTreeSet<Permission>, actual: &BTreeSet<Permission>) -> RulePlan {
    let present: BTreeSet<_> = actual.iter().map(identity).collect();
    let wanted: BTreeSet<_> = desired.iter().map(identity).collect();
    RulePlan {
        authorize: desired
            .iter()
            .filter(|p| !present.contains(&identity(p)))
            .cloned()
            .collect(),
        revoke: actual
            .iter()
            .filter(|p| p.description == RULE_LABEL && !wanted.contains(&identity(p)))
            .cloned()
            .collect(),
    }
}

mod manager;
pub use manager::{NetworkingManager, NetworkingOutcome};

#[cfg(test)]
mod tests;
