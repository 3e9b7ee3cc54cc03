//! Which subnets a load balancer goes into, decided over plain data (the VPC's subnets and,
//! optionally, its route tables) with upstream's rules and error messages.
//!
//! Three ways in, as upstream:
//! * [`SubnetResolver::resolve_via_names_or_ids`]: the `subnets` annotation (IDs or `Name` tags);
//! * [`SubnetResolver::resolve_via_selector`]: IngressClassParams `subnets` (IDs or tag filters);
//! * [`SubnetResolver::resolve_via_discovery`]: role tags, else route-table reachability.
//!
//! Explicit lists are validated as given; tag filters and discovery pick one subnet per
//! Availability Zone. The model builder wraps discovery errors as
//! `couldn't auto-discover subnets: ...`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ClusterFacts;
use crate::stack::{LoadBalancerType, Scheme};

/// Role tag of subnets for internet-facing load balancers.
pub const TAG_ROLE_ELB: &str = "kubernetes.io/role/elb";
/// Role tag of subnets for internal load balancers.
pub const TAG_ROLE_INTERNAL_ELB: &str = "kubernetes.io/role/internal-elb";
/// Prefix of the `kubernetes.io/cluster/<name>` tags.
pub const CLUSTER_TAG_PREFIX: &str = "kubernetes.io/cluster";
/// The tag that names a subnet.
pub const NAME_TAG: &str = "Name";
/// Fewest free addresses a load balancer subnet must have.
pub const MIN_AVAILABLE_IP_ADDRESSES: i64 = 8;

/// Where a subnet lives.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SubnetLocale {
    #[default]
    AvailabilityZone,
    LocalZone,
    WavelengthZone,
    Outpost,
}

impl SubnetLocale {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AvailabilityZone => "availability-zone",
            Self::LocalZone => "local-zone",
            Self::WavelengthZone => "wavelength-zone",
            Self::Outpost => "outpost",
        }
    }
}

impl fmt::Display for SubnetLocale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A subnet as EC2 describes it, reduced to what the resolution needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    pub id: String,
    /// Availability Zone name, e.g. `us-west-2a`.
    pub az: String,
    /// Availability Zone ID, e.g. `usw2-az1`.
    #[serde(default)]
    pub az_id: Option<String>,
    pub vpc_id: String,
    pub available_ips: i64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub ipv6_cidrs: Vec<String>,
    /// The IPv4 CIDR block (legacy NLB backend rules, private address placement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// From the zone type of the AZ, or `outpost` when the subnet has an Outpost ARN.
    #[serde(default)]
    pub locale: SubnetLocale,
}

/// A route table of the cluster's VPC, reduced to what reachability needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    pub id: String,
    /// Whether this is the VPC's main table (used by subnets without an explicit association).
    #[serde(default)]
    pub main: bool,
    /// Subnets explicitly associated with this table.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// The gateway IDs its routes point at; an `igw-...` makes the subnets public.
    #[serde(default)]
    pub gateway_ids: Vec<String>,
}

/// IngressClassParams `subnets`: explicit IDs, or EC2 tag filters (key ⇒ accepted values, `*`
/// and `?` as wildcards; no values means "has the tag").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SubnetSelector {
    Ids(Vec<String>),
    Tags(BTreeMap<String, Vec<String>>),
}

/// What the subnets are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolveOptions {
    pub lb_type: LoadBalancerType,
    pub scheme: Scheme,
    /// Drop candidates without an IPv6 CIDR (dualstack load balancers).
    pub require_ipv6: bool,
}

impl ResolveOptions {
    /// An ALB with this scheme, IPv4 only.
    pub fn alb(scheme: Scheme) -> Self {
        Self {
            lb_type: LoadBalancerType::Application,
            scheme,
            require_ipv6: false,
        }
    }
}

/// A failure to look up explicitly named subnets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("couldn't find all subnets, want: {}, found: {}", go_list(.want), go_list(.found))]
    IdsNotFound {
        want: Vec<String>,
        found: Vec<String>,
    },
    #[error("couldn't find all subnets, missing names: {}", go_list(.missing))]
    NamesNotFound { missing: Vec<String> },
    #[error(
        "subnet with Name tag {name:?} requested {requested} times but only {found} subnet(s) found with that name"
    )]
    NameRequestedTooOften {
        name: String,
        requested: usize,
        found: usize,
    },
}

/// Why no usable set of subnets came out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    #[error("failed to list subnets by names or IDs: {0}")]
    ByNamesOrIds(LookupError),
    #[error("failed to list subnets by IDs: {0}")]
    ByIds(LookupError),
    #[error("unable to resolve at least one subnet")]
    NoneSpecified,
    #[error(
        "unable to resolve at least one subnet. Evaluated {evaluated} subnets: {other_cluster} are tagged for other clusters, and {insufficient_ips} have insufficient available IP addresses{}",
        ipv6_note(*.without_ipv6)
    )]
    NoneEligible {
        evaluated: usize,
        other_cluster: usize,
        insufficient_ips: usize,
        /// Set when IPv6 was required: how many candidates lacked it.
        without_ipv6: Option<usize>,
    },
    #[error("multiple subnets in same Availability Zone {az}: {}", go_list(.ids))]
    SameAvailabilityZone { az: String, ids: Vec<String> },
    #[error("subnets in multiple locales: {}", go_list(.locales))]
    MultipleLocales { locales: Vec<String> },
    #[error("subnets count less than minimal required count: {count} < {minimum}")]
    TooFew { count: usize, minimum: usize },
    #[error("could not identify main route table for vpc: {vpc_id}")]
    NoMainRouteTable { vpc_id: String },
}

/// A list as Go's `%v` prints a string slice: `[a b c]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

fn ipv6_note(without_ipv6: Option<usize>) -> String {
    match without_ipv6 {
        Some(n) => format!("; {n} have no IPv6 CIDR block, which dualstack requires"),
        None => String::new(),
    }
}

/// Resolves load balancer subnets over the facts gathered for one cluster.
#[derive(Clone, Copy, Debug)]
pub struct SubnetResolver<'a> {
    pub vpc_id: &'a str,
    pub cluster_name: &'a str,
    /// The VPC's subnets (and any subnet referenced by ID elsewhere).
    pub subnets: &'a [Subnet],
    /// The VPC's route tables; `None` disables discovery by reachability.
    pub route_tables: Option<&'a [RouteTable]>,
    /// `SubnetsClusterTagCheck`.
    pub cluster_tag_check: bool,
    /// `ALBSingleSubnet`.
    pub alb_single_subnet: bool,
    /// `SubnetDiscoveryByReachability`.
    pub discovery_by_reachability: bool,
}

impl<'a> SubnetResolver<'a> {
    pub fn from_facts(facts: &'a ClusterFacts) -> Self {
        Self {
            vpc_id: &facts.vpc_id,
            cluster_name: &facts.cluster_name,
            subnets: &facts.subnets,
            route_tables: facts.route_tables.as_deref(),
            cluster_tag_check: facts.features.subnets_cluster_tag_check,
            alb_single_subnet: facts.features.alb_single_subnet,
            discovery_by_reachability: facts.features.subnet_discovery_by_reachability,
        }
    }

    /// Subnets named by ID (`subnet-...`) or `Name` tag, in the order given. A name shared by
    /// several subnets may be listed that many times and yields a different subnet each time.
    pub fn resolve_via_names_or_ids(
        &self,
        names_or_ids: &[String],
        opts: ResolveOptions,
    ) -> Result<Vec<Subnet>, SubnetError> {
        let (ids, names): (Vec<&String>, Vec<&String>) =
            names_or_ids.iter().partition(|s| s.starts_with("subnet-"));
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        let names: Vec<String> = names.into_iter().cloned().collect();
        let by_id: BTreeMap<&str, &Subnet> = if ids.is_empty() {
            BTreeMap::new()
        } else {
            self.list_by_ids(&ids)
                .map_err(SubnetError::ByNamesOrIds)?
                .into_iter()
                .map(|s| (s.id.as_str(), s))
                .collect()
        };
        let by_name = if names.is_empty() {
            BTreeMap::new()
        } else {
            self.list_by_names(&names)
                .map_err(SubnetError::ByNamesOrIds)?
        };

        let mut used: BTreeMap<&str, usize> = BTreeMap::new();
        let mut resolved = Vec::with_capacity(names_or_ids.len());
        for entry in names_or_ids {
            if let Some(subnet) = by_id.get(entry.as_str()) {
                resolved.push((*subnet).clone());
                continue;
            }
            // list_by_ids/list_by_names made sure every entry is present in one of the maps.
            let candidates = by_name
                .get(entry.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let count = used.entry(entry.as_str()).or_insert(0);
            let Some(subnet) = candidates.get(*count) else {
                return Err(SubnetError::ByNamesOrIds(
                    LookupError::NameRequestedTooOften {
                        name: entry.clone(),
                        requested: *count + 1,
                        found: candidates.len(),
                    },
                ));
            };
            *count += 1;
            resolved.push((*subnet).clone());
        }
        self.validate_specified(&resolved, opts)?;
        Ok(resolved)
    }

    /// IngressClassParams `subnets`: IDs are validated as given; tag filters pick one per AZ.
    pub fn resolve_via_selector(
        &self,
        selector: &SubnetSelector,
        opts: ResolveOptions,
    ) -> Result<Vec<Subnet>, SubnetError> {
        match selector {
            SubnetSelector::Ids(ids) => {
                let found = self.list_by_ids(ids).map_err(SubnetError::ByIds)?;
                let by_id: BTreeMap<&str, &Subnet> =
                    found.into_iter().map(|s| (s.id.as_str(), s)).collect();
                let subnets: Vec<Subnet> = ids
                    .iter()
                    .filter_map(|id| by_id.get(id.as_str()).map(|s| (*s).clone()))
                    .collect();
                self.validate_specified(&subnets, opts)?;
                Ok(subnets)
            }
            SubnetSelector::Tags(filters) => {
                let candidates: Vec<&Subnet> = self
                    .in_vpc()
                    .filter(|s| matches_tag_filters(s, filters))
                    .collect();
                self.choose_and_validate(&candidates, opts)
            }
        }
    }

    /// Auto-discovery: subnets with the scheme's role tag (value empty or `1`); when there are
    /// none, subnets whose reachability (route to an internet gateway) fits the scheme.
    pub fn resolve_via_discovery(&self, opts: ResolveOptions) -> Result<Vec<Subnet>, SubnetError> {
        let role_tag = match opts.scheme {
            Scheme::Internal => TAG_ROLE_INTERNAL_ELB,
            Scheme::InternetFacing => TAG_ROLE_ELB,
        };
        let mut candidates: Vec<&Subnet> = self
            .in_vpc()
            .filter(|s| matches!(s.tags.get(role_tag).map(String::as_str), Some("" | "1")))
            .collect();
        if candidates.is_empty() && self.discovery_by_reachability {
            // TODO(model): with `route_tables: None` the controller did not fetch them, and
            // reachability finds nothing; the controller must fill them for this fallback.
            if let Some(tables) = self.route_tables {
                let wants_public = opts.scheme == Scheme::InternetFacing;
                for subnet in self.in_vpc() {
                    if self.is_public(&subnet.id, tables)? == wants_public {
                        candidates.push(subnet);
                    }
                }
            }
        }
        self.choose_and_validate(&candidates, opts)
    }

    fn in_vpc(&self) -> impl Iterator<Item = &'a Subnet> + 'a {
        let vpc_id = self.vpc_id;
        self.subnets.iter().filter(move |s| s.vpc_id == vpc_id)
    }

    /// The subnets with these IDs (in any VPC); every ID must be found, and duplicates count
    /// as missing, as with EC2's DescribeSubnets.
    fn list_by_ids(&self, ids: &[String]) -> Result<Vec<&'a Subnet>, LookupError> {
        let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let found: Vec<&Subnet> = self
            .subnets
            .iter()
            .filter(|s| wanted.contains(s.id.as_str()))
            .collect();
        if found.len() != ids.len() {
            return Err(LookupError::IdsNotFound {
                want: ids.to_vec(),
                found: found.iter().map(|s| s.id.clone()).collect(),
            });
        }
        Ok(found)
    }

    /// The VPC's subnets by `Name` tag value; every name must match at least one subnet.
    fn list_by_names(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<&'a str, Vec<&'a Subnet>>, LookupError> {
        let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let mut by_name: BTreeMap<&str, Vec<&Subnet>> = BTreeMap::new();
        for subnet in self.in_vpc() {
            if let Some(name) = subnet.tags.get(NAME_TAG)
                && wanted.contains(name.as_str())
            {
                by_name.entry(name.as_str()).or_default().push(subnet);
            }
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|name| !by_name.contains_key(**name))
            .map(|name| (*name).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(LookupError::NamesNotFound { missing });
        }
        Ok(by_name)
    }

    /// Whether the subnet's route table (its explicit one, else the main one) routes to an
    /// internet gateway.
    fn is_public(&self, subnet_id: &str, tables: &[RouteTable]) -> Result<bool, SubnetError> {
        let explicit = tables
            .iter()
            .find(|t| t.subnet_ids.iter().any(|id| id == subnet_id));
        let table = match explicit {
            Some(table) => table,
            None => {
                tables
                    .iter()
                    .find(|t| t.main)
                    .ok_or_else(|| SubnetError::NoMainRouteTable {
                        vpc_id: self.vpc_id.to_owned(),
                    })?
            }
        };
        Ok(table.gateway_ids.iter().any(|g| g.starts_with("igw")))
    }

    fn has_current_cluster_tag(&self, subnet: &Subnet) -> bool {
        subnet
            .tags
            .contains_key(&format!("{CLUSTER_TAG_PREFIX}/{}", self.cluster_name))
    }

    /// A subnet tagged only for other clusters is not ours to use (when the check is on).
    fn cluster_tag_allows(&self, subnet: &Subnet) -> bool {
        !self.cluster_tag_check
            || self.has_current_cluster_tag(subnet)
            || !subnet
                .tags
                .keys()
                .any(|k| k.starts_with(CLUSTER_TAG_PREFIX))
    }

    /// Filters candidates, keeps one per AZ (this cluster's tag first, then the lowest ID), and
    /// validates what is left. The result is sorted by subnet ID.
    fn choose_and_validate(
        &self,
        candidates: &[&Subnet],
        opts: ResolveOptions,
    ) -> Result<Vec<Subnet>, SubnetError> {
        let (mut other_cluster, mut insufficient_ips, mut without_ipv6) = (0, 0, 0);
        let mut by_az: BTreeMap<&str, Vec<&Subnet>> = BTreeMap::new();
        for subnet in candidates {
            if !self.cluster_tag_allows(subnet) {
                other_cluster += 1;
            } else if subnet.available_ips < MIN_AVAILABLE_IP_ADDRESSES {
                insufficient_ips += 1;
            } else if opts.require_ipv6 && subnet.ipv6_cidrs.is_empty() {
                without_ipv6 += 1;
            } else {
                by_az.entry(subnet.az.as_str()).or_default().push(subnet);
            }
        }
        let mut chosen: Vec<Subnet> = by_az
            .into_values()
            .filter_map(|az_subnets| {
                az_subnets
                    .into_iter()
                    .min_by(|a, b| {
                        self.has_current_cluster_tag(b)
                            .cmp(&self.has_current_cluster_tag(a))
                            .then_with(|| a.id.cmp(&b.id))
                    })
                    .cloned()
            })
            .collect();
        if chosen.is_empty() {
            return Err(SubnetError::NoneEligible {
                evaluated: candidates.len(),
                other_cluster,
                insufficient_ips,
                without_ipv6: opts.require_ipv6.then_some(without_ipv6),
            });
        }
        chosen.sort_by(|a, b| a.id.cmp(&b.id));
        let locale = validate_locale_uniformity(&chosen)?;
        self.validate_minimal_count(&chosen, locale, opts)?;
        Ok(chosen)
    }

    /// Checks subnets the user listed: at least one, one per AZ, one locale, enough of them.
    fn validate_specified(
        &self,
        subnets: &[Subnet],
        opts: ResolveOptions,
    ) -> Result<(), SubnetError> {
        if subnets.is_empty() {
            return Err(SubnetError::NoneSpecified);
        }
        let mut by_az: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for subnet in subnets {
            by_az
                .entry(subnet.az.as_str())
                .or_default()
                .push(subnet.id.clone());
        }
        if let Some((az, ids)) = by_az.into_iter().find(|(_, ids)| ids.len() > 1) {
            return Err(SubnetError::SameAvailabilityZone {
                az: az.to_owned(),
                ids,
            });
        }
        let locale = validate_locale_uniformity(subnets)?;
        self.validate_minimal_count(subnets, locale, opts)
    }

    fn validate_minimal_count(
        &self,
        subnets: &[Subnet],
        locale: SubnetLocale,
        opts: ResolveOptions,
    ) -> Result<(), SubnetError> {
        let minimum = if opts.lb_type == LoadBalancerType::Application
            && locale == SubnetLocale::AvailabilityZone
            && !self.alb_single_subnet
        {
            2
        } else {
            1
        };
        if subnets.len() < minimum {
            return Err(SubnetError::TooFew {
                count: subnets.len(),
                minimum,
            });
        }
        Ok(())
    }
}

/// The one locale of non-empty `subnets`.
fn validate_locale_uniformity(subnets: &[Subnet]) -> Result<SubnetLocale, SubnetError> {
    let locales: BTreeSet<&'static str> = subnets.iter().map(|s| s.locale.as_str()).collect();
    if locales.len() > 1 {
        return Err(SubnetError::MultipleLocales {
            locales: locales.into_iter().map(str::to_owned).collect(),
        });
    }
    Ok(subnets
        .first()
        .map(|s| s.locale)
        .unwrap_or(SubnetLocale::AvailabilityZone))
}

/// Whether the subnet passes every EC2-style `tag:<key>` filter.
fn matches_tag_filters(subnet: &Subnet, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters
        .iter()
        .all(|(key, patterns)| match subnet.tags.get(key) {
            Some(value) => patterns.is_empty() || patterns.iter().any(|p| glob_match(p, value)),
            None => false,
        })
}

/// EC2 filter matching: `*` matches any run of characters, `?` exactly one.
fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Position of the last `*` seen and the text position it was tried at.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, tried)) => {
                    p = star + 1;
                    t = tried + 1;
                    backtrack = Some((star, tried + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

/// Gives each subnet mapping, in order, its Elastic IP allocation: only for an internet-facing
/// NLB, one per subnet (upstream's messages).
pub fn assign_eip_allocations(
    mappings: &mut [crate::stack::SubnetMapping],
    allocations: &[String],
    scheme: Scheme,
) -> Result<(), String> {
    if scheme != Scheme::InternetFacing {
        return Err(
            "EIP allocations can only be set for internet facing load balancers".to_owned(),
        );
    }
    if allocations.len() != mappings.len() {
        return Err(format!(
            "count of EIP allocations ({}) and subnets ({}) must match",
            allocations.len(),
            mappings.len()
        ));
    }
    for (mapping, allocation) in mappings.iter_mut().zip(allocations) {
        mapping.allocation_id = Some(allocation.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
