//! The NLB's security groups and where the backend rules come from.
//!
//! * An existing NLB without security groups stays without (AWS cannot add them): legacy mode,
//!   backend rules from CIDRs.
//! * `NLBSecurityGroup` off or `disable-nlb-sg: "true"`: legacy mode for a new NLB; a conflict
//!   for one that has groups.
//! * No `security-groups`: a managed group (and the backend group when enabled); backend rules
//!   from the backend group (else the managed one).
//! * `security-groups`: those groups; backend rules only when managed (annotation, else
//!   `--enable-manage-backend-security-group-rules`), from the backend group.

use contract::annotations::Cidr;

use super::settings::LbSettings;
use super::{ServiceBuildError, ServiceTask};
use crate::naming;
use crate::stack::{
    IpPermission, IpRange, Ipv6Range, MANAGED_SECURITY_GROUP_DESCRIPTION, PrefixListId,
    SecurityGroupSpec, StringToken, resource_id,
};

/// Where the TargetGroupBindings' rules come from.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum BackendRules {
    /// No rules are managed.
    None,
    /// Rules from this security group (the backend or the managed one).
    FromGroup(StringToken),
    /// No security group on the NLB: rules from CIDRs.
    Legacy,
}

#[derive(Clone, Debug)]
pub(super) struct Security {
    pub load_balancer_groups: Vec<StringToken>,
    pub backend_rules: BackendRules,
}

fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

impl ServiceTask<'_> {
    pub(super) fn build_security(
        &mut self,
        lb: &LbSettings,
    ) -> Result<Security, ServiceBuildError> {
        let a = self.annotations;
        let features = self.facts().features;
        let existing = self.inputs.existing_lb;
        let legacy = Security {
            load_balancer_groups: Vec::new(),
            backend_rules: if a.manage_backend_security_group_rules == Some(false) {
                BackendRules::None
            } else {
                BackendRules::Legacy
            },
        };
        if existing.is_some_and(|e| e.security_groups.is_empty()) {
            return Ok(legacy);
        }
        if !features.nlb_security_group || a.disable_nlb_security_group == Some(true) {
            if existing.is_some_and(|e| !e.security_groups.is_empty()) {
                return Err(ServiceBuildError::invalid(
                    "conflicting security groups configuration",
                ));
            }
            return Ok(legacy);
        }
        let backend = self
            .facts()
            .enable_backend_security_group
            .then(|| self.facts().backend_security_group.clone())
            .flatten()
            .map(StringToken::Literal);
        match &a.security_groups {
            None => {
                let managed = self.add_managed_security_group(lb)?;
                let mut groups = vec![managed.clone()];
                let rules_from = match backend {
                    Some(backend) => {
                        groups.push(backend.clone());
                        backend
                    }
                    None => managed,
                };
                Ok(Security {
                    load_balancer_groups: groups,
                    backend_rules: BackendRules::FromGroup(rules_from),
                })
            }
            Some(names_or_ids) => {
                let mut groups: Vec<StringToken> = self
                    .resolve_security_groups(names_or_ids)?
                    .into_iter()
                    .map(StringToken::Literal)
                    .collect();
                let manage = a
                    .manage_backend_security_group_rules
                    .unwrap_or(self.facts().enable_manage_backend_security_group_rules);
                if !manage {
                    return Ok(Security {
                        load_balancer_groups: groups,
                        backend_rules: BackendRules::None,
                    });
                }
                let Some(backend) = backend else {
                    return Err(ServiceBuildError::invalid(
                        "backendSG feature is required to manage worker node SG rules when frontendSG is manually specified",
                    ));
                };
                groups.push(backend.clone());
                Ok(Security {
                    load_balancer_groups: groups,
                    backend_rules: BackendRules::FromGroup(backend),
                })
            }
        }
    }

    /// `sg-...` as given, other entries by `Name` tag in the cluster's VPC.
    fn resolve_security_groups(
        &self,
        names_or_ids: &[String],
    ) -> Result<Vec<String>, ServiceBuildError> {
        let facts = self.facts();
        let mut ids = Vec::with_capacity(names_or_ids.len());
        for entry in names_or_ids {
            if entry.starts_with("sg-") {
                ids.push(entry.clone());
                continue;
            }
            ids.extend(
                facts
                    .security_groups
                    .iter()
                    .filter(|sg| sg.vpc_id == facts.vpc_id && sg.name.as_deref() == Some(entry))
                    .map(|sg| sg.id.clone()),
            );
        }
        if ids.len() != names_or_ids.len() {
            return Err(ServiceBuildError::invalid(format!(
                "couldn't find all securityGroups, nameOrIDs: {}, found: {}",
                go_list(names_or_ids),
                go_list(&ids)
            )));
        }
        Ok(ids)
    }

    /// The client CIDRs: `spec.loadBalancerSourceRanges`, else the annotation.
    pub(super) fn source_ranges(&self) -> Result<Vec<Cidr>, ServiceBuildError> {
        let spec_ranges = self
            .service
            .spec
            .as_ref()
            .and_then(|s| s.load_balancer_source_ranges.as_deref())
            .unwrap_or(&[]);
        if !spec_ranges.is_empty() {
            return spec_ranges
                .iter()
                .map(|raw| {
                    raw.trim().parse::<Cidr>().map_err(|e| {
                        ServiceBuildError::spec(format!(
                            "invalid spec.loadBalancerSourceRanges entry {raw:?}: {e}"
                        ))
                    })
                })
                .collect();
        }
        Ok(self.annotations.source_ranges.clone().unwrap_or_default())
    }

    fn add_managed_security_group(
        &mut self,
        lb: &LbSettings,
    ) -> Result<StringToken, ServiceBuildError> {
        let mut cidrs = self.source_ranges()?;
        if let Some(v6) = cidrs.iter().find(|c| !c.is_ipv4())
            && !lb.dualstack()
        {
            return Err(ServiceBuildError::spec(format!(
                "unsupported v6 cidr {v6} when lb is not dualstack"
            )));
        }
        let prefix_lists = self
            .annotations
            .security_group_prefix_lists
            .clone()
            .unwrap_or_default();
        if cidrs.is_empty() && prefix_lists.is_empty() {
            cidrs.push(Cidr {
                addr: std::net::Ipv4Addr::UNSPECIFIED.into(),
                prefix_len: 0,
            });
            if lb.dualstack() {
                cidrs.push(Cidr {
                    addr: std::net::Ipv6Addr::UNSPECIFIED.into(),
                    prefix_len: 0,
                });
            }
        }
        let mut ingress = Vec::new();
        for port in self.ports {
            let protocol = port.protocol.as_deref().unwrap_or("TCP").to_lowercase();
            let number = port.port;
            for cidr in &cidrs {
                let mut rule = permission(&protocol, number, number);
                push_range(&mut rule, cidr);
                ingress.push(rule);
                if self.annotations.icmp_for_path_mtu_discovery {
                    let mut icmp = if cidr.is_ipv4() {
                        permission("icmp", 3, 4)
                    } else {
                        permission("icmpv6", 2, 0)
                    };
                    push_range(&mut icmp, cidr);
                    ingress.push(icmp);
                }
            }
            for list in &prefix_lists {
                let mut rule = permission(&protocol, number, number);
                rule.prefix_lists.push(PrefixListId {
                    list_id: list.clone(),
                    description: String::new(),
                });
                ingress.push(rule);
            }
        }
        let spec = SecurityGroupSpec {
            group_name: naming::nlb_security_group_name(
                &self.facts().cluster_name,
                self.namespace,
                self.name,
                self.uid,
            ),
            description: MANAGED_SECURITY_GROUP_DESCRIPTION.to_owned(),
            tags: self.resource_tags(resource_id::MANAGED_SECURITY_GROUP),
            ingress,
        };
        Ok(self
            .stack
            .add_security_group(resource_id::MANAGED_SECURITY_GROUP, spec)?
            .into())
    }
}

fn permission(protocol: &str, from: i32, to: i32) -> IpPermission {
    IpPermission {
        ip_protocol: protocol.to_owned(),
        from_port: Some(from),
        to_port: Some(to),
        ip_ranges: Vec::new(),
        ipv6_ranges: Vec::new(),
        prefix_lists: Vec::new(),
        user_id_group_pairs: Vec::new(),
    }
}

fn push_range(rule: &mut IpPermission, cidr: &Cidr) {
    let text = format!("{}/{}", cidr.network(), cidr.prefix_len);
    if cidr.is_ipv4() {
        rule.ip_ranges.push(IpRange {
            cidr_ip: text,
            description: String::new(),
        });
    } else {
        rule.ipv6_ranges.push(Ipv6Range {
            cidr_ipv6: text,
            description: String::new(),
        });
    }
}
