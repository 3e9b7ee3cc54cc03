//! The load balancer: group-exclusive settings (scheme, IP address type, name, subnets,
//! customer-owned pool, capacity, IPAM), merged attributes, tags, and its security groups.

use std::collections::BTreeMap;
use std::fmt::Display;

use contract::annotations::{IpAddressType as AnnotationIpAddressType, Scheme as AnnotationScheme};

use super::errors::{BuildError, Origin, go_list};
use super::port_config::PortConfig;
use super::{MemberCtx, Task};
use crate::naming;
use crate::stack::{
    Attribute, IpAddressType, IpamConfiguration, LoadBalancerSpec, LoadBalancerType,
    MinimumLoadBalancerCapacity, Scheme, SubnetMapping, resource_id,
};
use crate::subnets::{ResolveOptions, SubnetResolver, SubnetSelector};

/// The longest explicit load balancer name.
const MAX_NAME_LENGTH: usize = 32;

fn to_scheme(scheme: AnnotationScheme) -> Scheme {
    match scheme {
        AnnotationScheme::Internal => Scheme::Internal,
        AnnotationScheme::InternetFacing => Scheme::InternetFacing,
    }
}

fn to_ip_address_type(value: AnnotationIpAddressType) -> IpAddressType {
    match value {
        AnnotationIpAddressType::Ipv4 => IpAddressType::Ipv4,
        AnnotationIpAddressType::Dualstack => IpAddressType::Dualstack,
        AnnotationIpAddressType::DualstackWithoutPublicIpv4 => {
            IpAddressType::DualstackWithoutPublicIpv4
        }
    }
}

/// Whether the load balancer has IPv6 addresses.
pub(crate) fn is_dualstack(value: IpAddressType) -> bool {
    matches!(
        value,
        IpAddressType::Dualstack | IpAddressType::DualstackWithoutPublicIpv4
    )
}

impl Task<'_> {
    /// The one value the members set for a group-exclusive setting (`pick` gives a member's
    /// value and where it came from), or a `conflicting <what>: [...]` error naming the first
    /// member whose value differs.
    pub(crate) fn exclusive<T: Ord + Clone + Display>(
        &self,
        what: &str,
        pick: impl Fn(&MemberCtx<'_>) -> Option<(T, Origin)>,
    ) -> Result<Option<(T, Origin)>, BuildError> {
        let mut values: BTreeMap<T, Origin> = BTreeMap::new();
        let mut first: Option<(T, Origin)> = None;
        for member in &self.members {
            let Some((value, origin)) = pick(member) else {
                continue;
            };
            values
                .entry(value.clone())
                .or_insert_with(|| origin.clone());
            match &first {
                None => first = Some((value, origin)),
                Some((chosen, _)) if *chosen != value => {
                    let all: Vec<String> = values.keys().map(ToString::to_string).collect();
                    return Err(BuildError::conflict(
                        origin,
                        format!("conflicting {what}: {}", go_list(&all)),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(first)
    }

    pub(crate) fn build_load_balancer(
        &mut self,
        ports: &BTreeMap<u16, PortConfig>,
    ) -> Result<(), BuildError> {
        let scheme = self
            .exclusive("scheme", |m| {
                match m.params.as_ref().and_then(|p| p.scheme) {
                    Some(s) => Some((s, m.class_params("scheme"))),
                    None => m
                        .parsed
                        .scheme
                        .map(|s| (to_scheme(s), m.annotation("scheme"))),
                }
            })?
            .map_or(self.facts.default_scheme, |(s, _)| s);
        let ip_address_type = self
            .exclusive("IPAddressType", |m| {
                match m.params.as_ref().and_then(|p| p.ip_address_type) {
                    Some(t) => Some((t, m.class_params("ipAddressType"))),
                    None => m
                        .parsed
                        .ip_address_type
                        .map(|t| (to_ip_address_type(t), m.annotation("ip-address-type"))),
                }
            })?
            .map_or(IpAddressType::Ipv4, |(t, _)| t);
        self.ip_address_type = ip_address_type;

        let subnet_mappings = self.subnet_mappings(scheme, ip_address_type)?;
        let security_groups = self.load_balancer_security_groups(ports, ip_address_type)?;
        let customer_owned_ipv4_pool = self
            .exclusive("CustomerOwnedIPv4Pool", |m| {
                m.parsed
                    .customer_owned_ipv4_pool
                    .clone()
                    .map(|p| (p, m.annotation("customer-owned-ipv4-pool")))
            })?
            .map(|(p, _)| p);
        let load_balancer_attributes = self.load_balancer_attributes()?;
        let minimum_load_balancer_capacity = self.minimum_capacity()?;
        let ipam_configuration = self.ipam_configuration()?;
        let name = self.load_balancer_name(scheme)?;
        let tags = self.resource_tags(&self.group_tags, resource_id::LOAD_BALANCER);
        let spec = LoadBalancerSpec {
            name,
            load_balancer_type: LoadBalancerType::Application,
            scheme,
            ip_address_type,
            subnet_mappings,
            security_groups,
            customer_owned_ipv4_pool,
            ipam_configuration,
            minimum_load_balancer_capacity,
            enable_prefix_for_ipv6_source_nat: None,
            security_groups_inbound_rules_on_private_link: None,
            load_balancer_attributes,
            tags,
        };
        self.stack.add_load_balancer(spec)?;
        Ok(())
    }

    fn load_balancer_name(&self, scheme: Scheme) -> Result<String, BuildError> {
        let explicit = self.exclusive("load balancer name", |m| {
            match m.params.as_ref().and_then(|p| p.load_balancer_name.clone()) {
                Some(n) => Some((n, m.class_params("loadBalancerName"))),
                None => m
                    .parsed
                    .load_balancer_name
                    .clone()
                    .map(|n| (n, m.annotation("load-balancer-name"))),
            }
        })?;
        match explicit {
            Some((name, origin)) if name.chars().count() > MAX_NAME_LENGTH => {
                Err(BuildError::invalid(
                    origin,
                    "load balancer name cannot be longer than 32 characters",
                ))
            }
            Some((name, _)) => Ok(name),
            None => Ok(naming::load_balancer_name(
                &self.facts.cluster_name,
                self.group,
                scheme,
            )),
        }
    }

    /// Subnets: the annotation or IngressClassParams (never both), else the existing load
    /// balancer's when its scheme is unchanged, else auto-discovery. Sorted by subnet ID.
    fn subnet_mappings(
        &self,
        scheme: Scheme,
        ip_address_type: IpAddressType,
    ) -> Result<Vec<SubnetMapping>, BuildError> {
        let mut by_params: Option<(&SubnetSelector, Origin)> = None;
        let mut by_annotation: Option<(&Vec<String>, Origin)> = None;
        for member in &self.members {
            if let Some(selector) = member.params.as_ref().and_then(|p| p.subnets.as_ref()) {
                let origin = member.class_params("subnets");
                match &by_params {
                    None => by_params = Some((selector, origin)),
                    Some((first, _)) if *first != selector => {
                        return Err(BuildError::conflict(
                            origin,
                            "conflicting IngressClassParams subnet specifications",
                        ));
                    }
                    Some(_) => {}
                }
            } else if let Some(list) = &member.parsed.subnets {
                let origin = member.annotation("subnets");
                match &by_annotation {
                    None => by_annotation = Some((list, origin)),
                    Some((first, _)) if !same_set(first, list) => {
                        return Err(BuildError::conflict(
                            origin,
                            format!(
                                "conflicting subnets: {} | {}",
                                go_list(first),
                                go_list(list)
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let resolver = SubnetResolver::from_facts(self.facts);
        let opts = ResolveOptions {
            require_ipv6: is_dualstack(ip_address_type),
            ..ResolveOptions::alb(scheme)
        };
        let subnets =
            match (by_params, by_annotation) {
                (Some(_), Some((_, origin))) => {
                    return Err(BuildError::conflict(
                        origin,
                        "conflicting subnet specifications: IngressClassParams versus annotation",
                    ));
                }
                (Some((selector, origin)), None) => resolver
                    .resolve_via_selector(selector, opts)
                    .map_err(|error| BuildError::Subnets {
                    context: origin.to_string(),
                    error,
                })?,
                (None, Some((list, origin))) => resolver
                    .resolve_via_names_or_ids(list, opts)
                    .map_err(|error| BuildError::Subnets {
                        context: origin.to_string(),
                        error,
                    })?,
                (None, None) => {
                    if let Some(existing) = self.existing_lb.filter(|lb| lb.scheme == scheme) {
                        let mut ids = existing.subnet_ids.clone();
                        ids.sort();
                        return Ok(ids.into_iter().map(subnet_mapping).collect());
                    }
                    resolver
                        .resolve_via_discovery(opts)
                        .map_err(|error| BuildError::Subnets {
                            context: "couldn't auto-discover subnets".to_owned(),
                            error,
                        })?
                }
            };
        let mut ids: Vec<String> = subnets.into_iter().map(|s| s.id).collect();
        ids.sort();
        Ok(ids.into_iter().map(subnet_mapping).collect())
    }

    /// The members' `load-balancer-attributes`, merged; the first member's IngressClassParams
    /// attributes settle the keys they define and override the annotations.
    fn load_balancer_attributes(&self) -> Result<Vec<Attribute>, BuildError> {
        let class_attributes = self
            .members
            .first()
            .and_then(|m| m.params.as_ref())
            .map(|p| p.load_balancer_attributes.clone())
            .unwrap_or_default();
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        for member in &self.members {
            for (key, value) in member.parsed.load_balancer_attributes.iter().flatten() {
                match merged.get(key) {
                    Some(first) if first != value && !class_attributes.contains_key(key) => {
                        return Err(BuildError::conflict(
                            member.annotation("load-balancer-attributes"),
                            format!(
                                "conflicting load balancer attributes {key}: {first} | {value}"
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        merged.extend(class_attributes);
        Ok(merged
            .into_iter()
            .map(|(key, value)| Attribute { key, value })
            .collect())
    }

    /// `minimum-load-balancer-capacity` (gate `LBCapacityReservation`): the first member's
    /// IngressClassParams win outright, else the annotations must agree.
    fn minimum_capacity(&self) -> Result<Option<MinimumLoadBalancerCapacity>, BuildError> {
        if !self.facts.features.lb_capacity_reservation {
            return Ok(None);
        }
        let from_params = self
            .members
            .first()
            .and_then(|m| m.params.as_ref())
            .and_then(|p| p.minimum_capacity_units);
        let units = match from_params {
            Some(units) => Some(units),
            None => self
                .exclusive("capacity reservation", |m| {
                    m.parsed
                        .minimum_load_balancer_capacity
                        .map(|u| (u, m.annotation("minimum-load-balancer-capacity")))
                })?
                .map(|(u, _)| u),
        };
        Ok(units.map(|capacity_units| MinimumLoadBalancerCapacity { capacity_units }))
    }

    /// `ipam-ipv4-pool-id`: the first member's IngressClassParams win outright, else the
    /// annotations must agree.
    fn ipam_configuration(&self) -> Result<Option<IpamConfiguration>, BuildError> {
        let from_params = self
            .members
            .first()
            .and_then(|m| m.params.as_ref())
            .and_then(|p| p.ipam_ipv4_pool_id.clone());
        let pool = match from_params {
            Some(pool) => Some(pool),
            None => self
                .exclusive("ipv4 ipam pools", |m| {
                    m.parsed
                        .ipam_ipv4_pool_id
                        .clone()
                        .map(|p| (p, m.annotation("ipam-ipv4-pool-id")))
                })?
                .map(|(p, _)| p),
        };
        Ok(pool.map(|ipv4_ipam_pool_id| IpamConfiguration { ipv4_ipam_pool_id }))
    }
}

fn subnet_mapping(subnet_id: String) -> SubnetMapping {
    SubnetMapping {
        subnet_id,
        allocation_id: None,
        private_ipv4_address: None,
        ipv6_address: None,
        source_nat_ipv6_prefix: None,
    }
}

/// Whether two lists hold the same items, in any order.
fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort();
    b.sort();
    a == b
}
