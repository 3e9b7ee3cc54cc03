//! The NLB: scheme, address type, subnets and their mappings, name, attributes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use contract::annotations::{Cidr, NlbIpAddressType, NlbScheme, OnOff};

use super::security::Security;
use super::settings::LbSettings;
use super::{ServiceBuildError, ServiceTask};
use crate::naming;
use crate::stack::{
    Attribute, IpAddressType, LoadBalancerSpec, LoadBalancerType, MinimumLoadBalancerCapacity,
    Scheme, SubnetMapping, resource_id,
};
use crate::subnets::{ResolveOptions, Subnet, SubnetResolver};

fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

impl ServiceTask<'_> {
    pub(super) fn build_load_balancer_settings(&self) -> Result<LbSettings, ServiceBuildError> {
        let scheme = self.scheme();
        let ip_address_type = match self.annotations.ip_address_type {
            Some(NlbIpAddressType::Dualstack) => IpAddressType::Dualstack,
            _ => IpAddressType::Ipv4,
        };
        let dualstack = ip_address_type == IpAddressType::Dualstack;
        let subnets = self.subnets(scheme, dualstack)?;
        let subnet_mappings = self.subnet_mappings(&subnets, scheme, dualstack)?;
        Ok(LbSettings {
            scheme,
            ip_address_type,
            subnet_mappings,
            subnet_cidrs_v4: subnets.iter().filter_map(|s| s.cidr.clone()).collect(),
            subnet_cidrs_v6: subnets
                .iter()
                .flat_map(|s| s.ipv6_cidrs.iter().cloned())
                .collect(),
        })
    }

    /// `scheme`, then the deprecated `internal`, then the existing NLB's, then the default.
    fn scheme(&self) -> Scheme {
        if let Some(scheme) = self.annotations.scheme {
            return match scheme {
                NlbScheme::Internal => Scheme::Internal,
                NlbScheme::InternetFacing => Scheme::InternetFacing,
            };
        }
        if let Some(internal) = self.annotations.internal {
            return if internal {
                Scheme::Internal
            } else {
                Scheme::InternetFacing
            };
        }
        if let Some(existing) = self.inputs.existing_lb {
            return existing.scheme;
        }
        self.facts().default_scheme
    }

    /// The annotation's subnets; else the existing NLB's (same scheme); else discovered.
    fn subnets(&self, scheme: Scheme, dualstack: bool) -> Result<Vec<Subnet>, ServiceBuildError> {
        let resolver = SubnetResolver::from_facts(self.facts());
        let opts = ResolveOptions {
            lb_type: LoadBalancerType::Network,
            scheme,
            require_ipv6: dualstack,
        };
        if let Some(names) = &self.annotations.subnets {
            return Ok(resolver.resolve_via_names_or_ids(names, opts)?);
        }
        if let Some(existing) = self.inputs.existing_lb
            && existing.scheme == scheme
            && !existing.subnet_ids.is_empty()
        {
            return Ok(existing
                .subnet_ids
                .iter()
                .map(|id| {
                    self.facts()
                        .subnets
                        .iter()
                        .find(|s| &s.id == id)
                        .cloned()
                        .unwrap_or_else(|| Subnet {
                            id: id.clone(),
                            az: String::new(),
                            az_id: None,
                            vpc_id: self.facts().vpc_id.clone(),
                            available_ips: 0,
                            tags: BTreeMap::new(),
                            ipv6_cidrs: Vec::new(),
                            cidr: None,
                            locale: Default::default(),
                        })
                })
                .collect());
        }
        Ok(resolver.resolve_via_discovery(opts)?)
    }

    fn subnet_mappings(
        &self,
        subnets: &[Subnet],
        scheme: Scheme,
        dualstack: bool,
    ) -> Result<Vec<SubnetMapping>, ServiceBuildError> {
        let a = self.annotations;
        let count = subnets.len();
        let mut mappings: Vec<SubnetMapping> = subnets
            .iter()
            .map(|s| SubnetMapping {
                subnet_id: s.id.clone(),
                allocation_id: None,
                private_ipv4_address: None,
                ipv6_address: None,
                source_nat_ipv6_prefix: None,
            })
            .collect();
        if let Some(eips) = &a.eip_allocations {
            crate::subnets::assign_eip_allocations(&mut mappings, eips, scheme)
                .map_err(ServiceBuildError::Invalid)?;
        }
        if let Some(addresses) = &a.private_ipv4_addresses {
            if scheme != Scheme::Internal {
                return Err(ServiceBuildError::invalid(
                    "private IPv4 addresses can only be set for internal load balancers",
                ));
            }
            if addresses.len() != count {
                return Err(ServiceBuildError::invalid(format!(
                    "count of private IPv4 addresses ({}) and subnets ({count}) must match",
                    addresses.len()
                )));
            }
            for (mapping, subnet) in mappings.iter_mut().zip(subnets) {
                let cidrs: Vec<&str> = subnet.cidr.as_deref().into_iter().collect();
                mapping.private_ipv4_address =
                    Some(one_inside(addresses, &cidrs).ok_or_else(|| {
                        ServiceBuildError::invalid(format!(
                            "expect one private IPv4 address configured for subnet: {}",
                            subnet.id
                        ))
                    })?);
            }
        }
        if let Some(addresses) = &a.ipv6_addresses {
            if !dualstack {
                return Err(ServiceBuildError::invalid(
                    "IPv6 addresses can only be set for dualstack load balancers",
                ));
            }
            if addresses.len() != count {
                return Err(ServiceBuildError::invalid(format!(
                    "count of IPv6 addresses ({}) and subnets ({count}) must match",
                    addresses.len()
                )));
            }
            for (mapping, subnet) in mappings.iter_mut().zip(subnets) {
                let cidrs: Vec<&str> = subnet.ipv6_cidrs.iter().map(String::as_str).collect();
                mapping.ipv6_address = Some(one_inside(addresses, &cidrs).ok_or_else(|| {
                    ServiceBuildError::invalid(format!(
                        "expect one IPv6 address configured for subnet: {}",
                        subnet.id
                    ))
                })?);
            }
        }
        let prefix_on = a.enable_prefix_for_ipv6_source_nat == Some(OnOff::On);
        if prefix_on {
            if !dualstack {
                return Err(ServiceBuildError::invalid(
                    "enable-prefix-for-ipv6-source-nat annotation is only applicable to Network Load Balancers using Dualstack IP address type.",
                ));
            }
            let without: Vec<String> = subnets
                .iter()
                .filter(|s| s.ipv6_cidrs.is_empty())
                .map(|s| s.id.clone())
                .collect();
            if !without.is_empty() {
                return Err(ServiceBuildError::invalid(format!(
                    "To enable prefix for source NAT, all associated subnets must have an IPv6 CIDR. Subnets without IPv6 CIDR: {}.",
                    go_list(&without)
                )));
            }
        }
        if let Some(prefixes) = &a.source_nat_ipv6_prefixes {
            if !dualstack {
                return Err(ServiceBuildError::invalid(
                    "source-nat-ipv6-prefixes annotation can only be set for Network Load Balancers using Dualstack IP address type.",
                ));
            }
            if !prefix_on {
                return Err(ServiceBuildError::invalid(
                    "source-nat-ipv6-prefixes annotation is only applicable if enable-prefix-for-ipv6-source-nat annotation is set to on.",
                ));
            }
            if prefixes.len() != count {
                return Err(ServiceBuildError::invalid(format!(
                    "Number of values in source-nat-ipv6-prefixes ({}) must match the number of subnets ({count}).",
                    prefixes.len()
                )));
            }
            for (mapping, prefix) in mappings.iter_mut().zip(prefixes) {
                mapping.source_nat_ipv6_prefix = Some(prefix.clone());
            }
        }
        Ok(mappings)
    }

    /// Adds the NLB.
    pub(super) fn add_load_balancer(
        &mut self,
        lb: &LbSettings,
        security: &Security,
    ) -> Result<(), ServiceBuildError> {
        let name = match &self.annotations.name {
            Some(name) => name.clone(),
            None => naming::nlb_name(
                &self.facts().cluster_name,
                self.namespace,
                self.name,
                self.uid,
                lb.scheme,
            ),
        };
        let minimum_load_balancer_capacity = self
            .annotations
            .minimum_capacity_units
            .filter(|_| self.facts().features.lb_capacity_reservation)
            .map(|capacity_units| MinimumLoadBalancerCapacity { capacity_units });
        let spec = LoadBalancerSpec {
            name,
            load_balancer_type: LoadBalancerType::Network,
            scheme: lb.scheme,
            ip_address_type: lb.ip_address_type,
            subnet_mappings: lb.subnet_mappings.clone(),
            security_groups: security.load_balancer_groups.clone(),
            customer_owned_ipv4_pool: None,
            ipam_configuration: None,
            minimum_load_balancer_capacity,
            enable_prefix_for_ipv6_source_nat: Some(
                self.annotations
                    .enable_prefix_for_ipv6_source_nat
                    .unwrap_or(OnOff::Off)
                    .as_str()
                    .to_owned(),
            ),
            security_groups_inbound_rules_on_private_link: self
                .annotations
                .inbound_sg_rules_on_private_link
                .map(|v| v.as_str().to_owned()),
            load_balancer_attributes: self.load_balancer_attributes(),
            tags: self.resource_tags(resource_id::LOAD_BALANCER),
        };
        self.stack.add_load_balancer(spec)?;
        Ok(())
    }

    /// `aws-load-balancer-attributes`, overridden by the deprecated access-log and cross-zone
    /// annotations; sorted by key.
    fn load_balancer_attributes(&self) -> Vec<Attribute> {
        let a = self.annotations;
        let mut attributes = a.load_balancer_attributes.clone().unwrap_or_default();
        if a.access_log_enabled == Some(true) {
            attributes.insert("access_logs.s3.enabled".to_owned(), "true".to_owned());
            if let Some(bucket) = &a.access_log_bucket {
                attributes.insert("access_logs.s3.bucket".to_owned(), bucket.clone());
            }
            if let Some(prefix) = &a.access_log_prefix {
                attributes.insert("access_logs.s3.prefix".to_owned(), prefix.clone());
            }
        }
        if let Some(cross_zone) = a.cross_zone_load_balancing {
            attributes.insert(
                "load_balancing.cross_zone.enabled".to_owned(),
                cross_zone.to_string(),
            );
        }
        attributes
            .into_iter()
            .map(|(key, value)| Attribute { key, value })
            .collect()
    }
}

/// The one address of `addresses` inside any of `cidrs`; `None` when none or several are.
fn one_inside(addresses: &[String], cidrs: &[&str]) -> Option<String> {
    let cidrs: Vec<Cidr> = cidrs.iter().filter_map(|c| c.parse().ok()).collect();
    let mut inside = addresses.iter().filter(|address| {
        address
            .parse::<IpAddr>()
            .is_ok_and(|ip| cidrs.iter().any(|c| contains(c, ip)))
    });
    let first = inside.next()?;
    inside.next().is_none().then(|| first.clone())
}

/// Whether `ip` is inside `cidr`.
pub(super) fn contains(cidr: &Cidr, ip: IpAddr) -> bool {
    let network = Cidr {
        addr: ip,
        prefix_len: cidr.prefix_len,
    }
    .network();
    cidr.addr.is_ipv4() == ip.is_ipv4() && network == cidr.network()
}
