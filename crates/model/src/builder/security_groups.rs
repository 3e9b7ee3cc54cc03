//! Security groups of the load balancer: the managed frontend group (inbound CIDRs and prefix
//! lists on every listener port) or the user's groups, plus the cluster's backend group, and
//! which group target-side rules admit traffic from.

use std::collections::BTreeMap;

use super::Task;
use super::errors::{BuildError, go_list};
use super::load_balancer::is_dualstack;
use super::port_config::PortConfig;
use crate::naming;
use crate::stack::{
    IpAddressType, IpPermission, IpRange, Ipv6Range, MANAGED_SECURITY_GROUP_DESCRIPTION,
    PrefixListId, SecurityGroupSpec, StringToken, resource_id,
};

impl Task<'_> {
    /// The load balancer's security groups. Also decides [`Task::backend_source`].
    pub(crate) fn load_balancer_security_groups(
        &mut self,
        ports: &BTreeMap<u16, PortConfig>,
        ip_address_type: IpAddressType,
    ) -> Result<Vec<StringToken>, BuildError> {
        let user_groups = self.user_security_groups()?;
        let mut tokens = Vec::new();
        match user_groups {
            None => {
                let managed = self.managed_security_group(ports, ip_address_type)?;
                tokens.push(managed.clone());
                if self.facts.enable_backend_security_group {
                    let backend = self.backend_security_group()?;
                    tokens.push(backend.clone());
                    self.backend_source = Some(backend);
                } else {
                    self.backend_source = Some(managed);
                }
            }
            Some(ids) => {
                tokens.extend(ids.into_iter().map(StringToken::Literal));
                if self.manage_backend_rules()? {
                    if !self.facts.enable_backend_security_group {
                        return Err(BuildError::SecurityGroups {
                            message: "backendSG feature is required to manage worker node SG rules when frontendSG manually specified".to_owned(),
                        });
                    }
                    let backend = self.backend_security_group()?;
                    tokens.push(backend.clone());
                    self.backend_source = Some(backend);
                }
            }
        }
        Ok(tokens)
    }

    /// The cluster's shared backend security group, as the controller resolved it.
    fn backend_security_group(&self) -> Result<StringToken, BuildError> {
        match &self.facts.backend_security_group {
            Some(id) => Ok(StringToken::Literal(id.clone())),
            None => Err(BuildError::SecurityGroups {
                message: format!(
                    "the backend security group is enabled but its ID is not known: set backendSecurityGroup in the cluster facts (the controller creates {})",
                    naming::backend_security_group_name(&self.facts.cluster_name)
                ),
            }),
        }
    }

    /// `security-groups` (order matters), resolved to IDs: `sg-...` as given, other entries
    /// by `Name` tag in the cluster's VPC.
    fn user_security_groups(&self) -> Result<Option<Vec<String>>, BuildError> {
        let mut chosen: Option<&Vec<String>> = None;
        for member in &self.members {
            let Some(list) = &member.parsed.security_groups else {
                continue;
            };
            match chosen {
                None => chosen = Some(list),
                Some(first) if first != list => {
                    return Err(BuildError::conflict(
                        member.annotation("security-groups"),
                        format!(
                            "conflicting securityGroups: {} | {}",
                            go_list(first),
                            go_list(list)
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let Some(names_or_ids) = chosen else {
            return Ok(None);
        };
        let mut ids = Vec::with_capacity(names_or_ids.len());
        let mut missing = Vec::new();
        for entry in names_or_ids {
            if entry.starts_with("sg-") {
                ids.push(entry.clone());
                continue;
            }
            let found: Vec<&str> = self
                .facts
                .security_groups
                .iter()
                .filter(|sg| sg.vpc_id == self.facts.vpc_id && sg.name.as_deref() == Some(entry))
                .map(|sg| sg.id.as_str())
                .collect();
            if found.is_empty() {
                missing.push(entry.clone());
            }
            ids.extend(found.into_iter().map(str::to_owned));
        }
        if !missing.is_empty() || ids.len() != names_or_ids.len() {
            return Err(BuildError::SecurityGroups {
                message: format!(
                    "couldn't find all securityGroups, nameOrIDs: {}, found: {}",
                    go_list(names_or_ids),
                    go_list(&ids)
                ),
            });
        }
        Ok(Some(ids))
    }

    /// `manage-backend-security-group-rules` across the group, defaulting to the flag.
    fn manage_backend_rules(&self) -> Result<bool, BuildError> {
        Ok(self
            .exclusive("manage backend security group rules settings", |m| {
                m.parsed
                    .manage_backend_security_group_rules
                    .map(|v| (v, m.annotation("manage-backend-security-group-rules")))
            })?
            .map_or(
                self.facts.enable_manage_backend_security_group_rules,
                |(v, _)| v,
            ))
    }

    /// Adds the managed frontend security group; returns the reference to its ID.
    fn managed_security_group(
        &mut self,
        ports: &BTreeMap<u16, PortConfig>,
        ip_address_type: IpAddressType,
    ) -> Result<StringToken, BuildError> {
        let mut ingress = Vec::new();
        for (port, config) in ports {
            for cidr in &config.cidrs_v4 {
                ingress.push(IpPermission {
                    ip_ranges: vec![IpRange {
                        cidr_ip: cidr.clone(),
                        description: String::new(),
                    }],
                    ..IpPermission::tcp_port(*port)
                });
            }
            if is_dualstack(ip_address_type) {
                for cidr in &config.cidrs_v6 {
                    ingress.push(IpPermission {
                        ipv6_ranges: vec![Ipv6Range {
                            cidr_ipv6: cidr.clone(),
                            description: String::new(),
                        }],
                        ..IpPermission::tcp_port(*port)
                    });
                }
            }
            for list in &config.prefix_lists {
                ingress.push(IpPermission {
                    prefix_lists: vec![PrefixListId {
                        list_id: list.clone(),
                        description: String::new(),
                    }],
                    ..IpPermission::tcp_port(*port)
                });
            }
        }
        let spec = SecurityGroupSpec {
            group_name: naming::managed_security_group_name(&self.facts.cluster_name, self.group),
            description: MANAGED_SECURITY_GROUP_DESCRIPTION.to_owned(),
            tags: self.resource_tags(&self.group_tags, resource_id::MANAGED_SECURITY_GROUP),
            ingress,
        };
        let reference = self
            .stack
            .add_security_group(resource_id::MANAGED_SECURITY_GROUP, spec)?;
        Ok(reference.into())
    }
}
