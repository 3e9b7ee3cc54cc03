//! Listeners: each member's listen ports with their protocol, inbound CIDRs, prefix lists, SSL
//! policy, certificates and mTLS; their merge per port across the group; SSL redirect; and the
//! listener resources with default actions and attributes.

use std::collections::{BTreeMap, BTreeSet};

use contract::annotations::{
    ListenerKey, MutualAuthentication as AnnotationMtls, MutualAuthenticationMode,
    Protocol as AnnotationProtocol,
};

use super::certificates::{self, DiscoveryError};
use super::errors::{BuildError, Origin, go_list};
use super::port_config::PortConfig;
use super::{MemberCtx, Task};
use crate::stack::{
    Action, Attribute, Certificate, FixedResponseConfig, ListenerSpec, MutualAuthentication,
    Protocol, Ref, resource_id,
};

const HTTP_PORT: u16 = 80;
const HTTPS_PORT: u16 = 443;

/// One member's settings for one of its listen ports.
struct MemberPort {
    protocol: Protocol,
    cidrs_v4: BTreeSet<String>,
    cidrs_v6: BTreeSet<String>,
    cidrs_origin: Origin,
    prefix_lists: BTreeSet<String>,
    prefix_lists_origin: Origin,
    ssl_policy: Option<(String, Origin)>,
    certificates: Vec<String>,
    mutual_authentication: Option<MutualAuthentication>,
}

pub(crate) fn to_protocol(protocol: AnnotationProtocol) -> Protocol {
    match protocol {
        AnnotationProtocol::Http => Protocol::Http,
        AnnotationProtocol::Https => Protocol::Https,
    }
}

fn to_annotation_protocol(protocol: Protocol) -> Option<AnnotationProtocol> {
    match protocol {
        Protocol::Http => Some(AnnotationProtocol::Http),
        Protocol::Https => Some(AnnotationProtocol::Https),
        _ => None,
    }
}

/// The listener side of `mutual-authentication`; trust stores must be given by ARN (resolving
/// a name needs `DescribeTrustStores`).
fn mutual_authentication(
    member: &MemberCtx<'_>,
    entry: &AnnotationMtls,
) -> Result<MutualAuthentication, BuildError> {
    let verify = entry.mode == MutualAuthenticationMode::Verify;
    if let Some(store) = entry
        .trust_store
        .as_ref()
        .filter(|s| !s.starts_with("arn:"))
    {
        return Err(BuildError::invalid(
            member.annotation("mutual-authentication"),
            format!(
                "trustStore {store} for port {} is a name; give the trust store ARN (resolving names needs AWS)",
                entry.port
            ),
        ));
    }
    Ok(MutualAuthentication {
        mode: entry.mode.as_str().to_owned(),
        trust_store_arn: entry.trust_store.clone(),
        ignore_client_certificate_expiry: entry
            .ignore_client_certificate_expiry
            .or(verify.then_some(false)),
        advertise_trust_store_ca_names: entry
            .advertise_trust_store_ca_names
            .map(|a| a.as_str().to_owned()),
    })
}

impl Task<'_> {
    /// Every listen port of the group with its merged settings, by port.
    pub(crate) fn listen_port_configs(&self) -> Result<BTreeMap<u16, PortConfig>, BuildError> {
        let mut per_port: BTreeMap<u16, Vec<(usize, MemberPort)>> = BTreeMap::new();
        for (index, member) in self.members.iter().enumerate() {
            for (port, config) in self.member_ports(member)? {
                per_port.entry(port).or_default().push((index, config));
            }
        }
        let mut merged = BTreeMap::new();
        for (port, configs) in per_port {
            merged.insert(port, self.merge_port(port, configs)?);
        }
        Ok(merged)
    }

    fn member_ports(
        &self,
        member: &MemberCtx<'_>,
    ) -> Result<BTreeMap<u16, MemberPort>, BuildError> {
        let params = member.params.as_ref();
        let explicit_certificates: Vec<String> = params
            .and_then(|p| p.certificate_arns.clone())
            .or_else(|| member.parsed.certificate_arn.clone())
            .unwrap_or_default();
        let ssl_policy = match params.and_then(|p| p.ssl_policy.clone()) {
            Some(policy) => Some((policy, member.class_params("sslPolicy"))),
            None => member
                .parsed
                .ssl_policy
                .clone()
                .map(|policy| (policy, member.annotation("ssl-policy"))),
        };
        let (cidrs, cidrs_origin) = self.member_inbound_cidrs(member)?;
        let (prefix_lists, prefix_lists_origin) = match params.and_then(|p| p.prefix_lists.clone())
        {
            Some(lists) => (lists, member.class_params("prefixListsIDs")),
            None => (
                member
                    .parsed
                    .security_group_prefix_lists
                    .clone()
                    .unwrap_or_default(),
                member.annotation("security-group-prefix-lists"),
            ),
        };
        let mut mtls_by_port: BTreeMap<u16, MutualAuthentication> = BTreeMap::new();
        // No annotation: the listener's mutual authentication is left as AWS has it (ELB
        // rejects the field on Outposts, and mTLS set outside the controller stays), as upstream.
        for entry in member.parsed.mutual_authentication.iter().flatten() {
            mtls_by_port.insert(entry.port, mutual_authentication(member, entry)?);
        }
        let listen_ports: Vec<(u16, Protocol)> = match &member.parsed.listen_ports {
            Some(ports) => ports
                .iter()
                .map(|p| (p.port, to_protocol(p.protocol)))
                .collect(),
            None if !explicit_certificates.is_empty() => vec![(HTTPS_PORT, Protocol::Https)],
            None => vec![(HTTP_PORT, Protocol::Http)],
        };
        let needs_discovery = explicit_certificates.is_empty()
            && listen_ports.iter().any(|(_, p)| *p == Protocol::Https);
        let certificates = if needs_discovery {
            let hosts = certificates::ingress_hosts(member.ingress);
            certificates::discover(&hosts, &self.facts.certificates).map_err(|e| {
                let hint = match e {
                    DiscoveryError::NotFound { .. } => {
                        "; set alb.ingress.kubernetes.io/certificate-arn, or add the certificate to the cluster facts"
                    }
                    DiscoveryError::Ambiguous { .. } => "",
                };
                BuildError::Certificate {
                    message: format!("Ingress {}: {e}{hint}", member.key),
                }
            })?
        } else {
            explicit_certificates
        };

        let mut out = BTreeMap::new();
        for (port, protocol) in listen_ports {
            let https = protocol == Protocol::Https;
            out.insert(
                port,
                MemberPort {
                    protocol,
                    cidrs_v4: cidrs.0.clone(),
                    cidrs_v6: cidrs.1.clone(),
                    cidrs_origin: cidrs_origin.clone(),
                    prefix_lists: prefix_lists.iter().cloned().collect(),
                    prefix_lists_origin: prefix_lists_origin.clone(),
                    ssl_policy: if https { ssl_policy.clone() } else { None },
                    certificates: if https {
                        certificates.clone()
                    } else {
                        Vec::new()
                    },
                    mutual_authentication: if https {
                        mtls_by_port.get(&port).cloned()
                    } else {
                        None
                    },
                },
            );
        }
        Ok(out)
    }

    /// The member's inbound CIDRs split into IPv4 and IPv6: IngressClassParams over annotation.
    #[allow(clippy::type_complexity)]
    fn member_inbound_cidrs(
        &self,
        member: &MemberCtx<'_>,
    ) -> Result<((BTreeSet<String>, BTreeSet<String>), Origin), BuildError> {
        let mut v4 = BTreeSet::new();
        let mut v6 = BTreeSet::new();
        if let Some(cidrs) = member
            .params
            .as_ref()
            .and_then(|p| p.inbound_cidrs.as_ref())
        {
            let origin = member.class_params("inboundCIDRs");
            for raw in cidrs {
                let cidr: contract::annotations::Cidr =
                    raw.parse().map_err(|e: String| BuildError::ClassParams {
                        origin: origin.clone(),
                        message: format!(
                            "invalid CIDR in IngressClassParams InboundCIDR {raw}: {e}"
                        ),
                    })?;
                if cidr.is_ipv4() { &mut v4 } else { &mut v6 }.insert(raw.clone());
            }
            return Ok(((v4, v6), origin));
        }
        for cidr in member.parsed.inbound_cidrs.iter().flatten() {
            if cidr.is_ipv4() { &mut v4 } else { &mut v6 }.insert(cidr.to_string());
        }
        Ok(((v4, v6), member.annotation("inbound-cidrs")))
    }

    fn merge_port(
        &self,
        port: u16,
        configs: Vec<(usize, MemberPort)>,
    ) -> Result<PortConfig, BuildError> {
        let conflict = |origin: Origin, message: String| {
            BuildError::conflict(
                origin,
                format!("failed to merge listenPort config for port: {port}: {message}"),
            )
        };
        let key = |index: usize| {
            self.members
                .get(index)
                .map_or_else(String::new, |m| m.key.clone())
        };
        let mut protocol: Option<(Protocol, usize)> = None;
        let mut cidrs: Option<(&BTreeSet<String>, &BTreeSet<String>, usize)> = None;
        let mut prefix_lists: Option<(&BTreeSet<String>, usize)> = None;
        let mut ssl_policy: Option<(&str, usize)> = None;
        let mut mtls: Option<(&MutualAuthentication, usize)> = None;

        let default_certificate = configs
            .iter()
            .find_map(|(i, c)| c.certificates.first().map(|cert| (*i, cert.clone())));
        let mut certificates: Vec<String> = default_certificate
            .iter()
            .map(|(_, cert)| cert.clone())
            .collect();
        let mut seen_certificates = BTreeSet::new();

        for (index, config) in &configs {
            match protocol {
                None => protocol = Some((config.protocol, *index)),
                Some((first, provider)) if first != config.protocol => {
                    let origin = self.member(*index)?.annotation("listen-ports");
                    return Err(conflict(
                        origin,
                        format!(
                            "conflicting protocol, {}: {first} | {}: {}",
                            key(provider),
                            key(*index),
                            config.protocol
                        ),
                    ));
                }
                Some(_) => {}
            }
            if !config.cidrs_v4.is_empty() || !config.cidrs_v6.is_empty() {
                match cidrs {
                    None => cidrs = Some((&config.cidrs_v4, &config.cidrs_v6, *index)),
                    Some((v4, v6, provider))
                        if *v4 != config.cidrs_v4 || *v6 != config.cidrs_v6 =>
                    {
                        return Err(conflict(
                            config.cidrs_origin.clone(),
                            format!(
                                "conflicting inbound-cidrs, {}: {}, {} | {}: {}, {}",
                                key(provider),
                                go_list(&v4.iter().collect::<Vec<_>>()),
                                go_list(&v6.iter().collect::<Vec<_>>()),
                                key(*index),
                                go_list(&config.cidrs_v4.iter().collect::<Vec<_>>()),
                                go_list(&config.cidrs_v6.iter().collect::<Vec<_>>()),
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
            if !config.prefix_lists.is_empty() {
                match prefix_lists {
                    None => prefix_lists = Some((&config.prefix_lists, *index)),
                    Some((lists, provider)) if *lists != config.prefix_lists => {
                        return Err(conflict(
                            config.prefix_lists_origin.clone(),
                            format!(
                                "conflicting inbound-prefix-lists, {}: {} | {}: {}",
                                key(provider),
                                go_list(&lists.iter().collect::<Vec<_>>()),
                                key(*index),
                                go_list(&config.prefix_lists.iter().collect::<Vec<_>>()),
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
            if let Some((policy, origin)) = &config.ssl_policy {
                match ssl_policy {
                    None => ssl_policy = Some((policy, *index)),
                    Some((first, provider)) if first != policy => {
                        return Err(conflict(
                            origin.clone(),
                            format!(
                                "conflicting sslPolicy, {}: {first} | {}: {policy}",
                                key(provider),
                                key(*index)
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
            for (position, certificate) in config.certificates.iter().enumerate() {
                let is_default = position == 0
                    && default_certificate
                        .as_ref()
                        .is_some_and(|(i, _)| i == index);
                if is_default || !seen_certificates.insert(certificate.clone()) {
                    continue;
                }
                certificates.push(certificate.clone());
            }
            if let Some(attributes) = &config.mutual_authentication {
                match mtls {
                    None => mtls = Some((attributes, *index)),
                    Some((first, provider)) if first != attributes => {
                        let origin = self.member(*index)?.annotation("mutual-authentication");
                        return Err(conflict(
                            origin,
                            format!(
                                "conflicting mTLS Attributes, {}: mode {} | {}: mode {}",
                                key(provider),
                                first.mode,
                                key(*index),
                                attributes.mode
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }

        let protocol = protocol.map_or(Protocol::Http, |(p, _)| p);
        let (mut cidrs_v4, mut cidrs_v6): (Vec<String>, Vec<String>) = cidrs
            .map(|(v4, v6, _)| (v4.iter().cloned().collect(), v6.iter().cloned().collect()))
            .unwrap_or_default();
        let prefix_lists: Vec<String> = prefix_lists
            .map(|(lists, _)| lists.iter().cloned().collect())
            .unwrap_or_default();
        if cidrs_v4.is_empty() && cidrs_v6.is_empty() && prefix_lists.is_empty() {
            cidrs_v4.push("0.0.0.0/0".to_owned());
            cidrs_v6.push("::/0".to_owned());
        }
        let ssl_policy = (protocol == Protocol::Https).then(|| {
            ssl_policy.map_or_else(
                || self.facts.default_ssl_policy.clone(),
                |(p, _)| p.to_owned(),
            )
        });
        Ok(PortConfig {
            protocol,
            cidrs_v4,
            cidrs_v6,
            prefix_lists,
            ssl_policy,
            certificates,
            mutual_authentication: mtls.map(|(m, _)| m.clone()),
            members: configs.iter().map(|(i, _)| *i).collect(),
        })
    }

    pub(crate) fn build_listener(
        &mut self,
        port: u16,
        config: &PortConfig,
        ssl_redirect: Option<u16>,
    ) -> Result<(), BuildError> {
        let https = config.protocol == Protocol::Https;
        if https && config.certificates.is_empty() {
            let keys: Vec<String> = config
                .members
                .iter()
                .filter_map(|i| self.members.get(*i).map(|m| m.key.clone()))
                .collect();
            return Err(BuildError::Certificate {
                message: format!(
                    "HTTPS listener on port {port} has no certificate: certificate discovery found no host to match; set alb.ingress.kubernetes.io/certificate-arn (or IngressClassParams certificateArn) on one of {}",
                    go_list(&keys)
                ),
            });
        }
        let default_actions = self.listener_default_actions(config, ssl_redirect)?;
        let listener_attributes = self.listener_attributes(port, config)?;
        let tags = self.resource_tags(&self.group_tags, &resource_id::listener(port));
        let spec = ListenerSpec {
            load_balancer_arn: Ref::load_balancer_arn().into(),
            port,
            protocol: config.protocol,
            default_actions,
            certificates: config
                .certificates
                .iter()
                .map(|arn| Certificate {
                    certificate_arn: arn.clone(),
                })
                .collect(),
            ssl_policy: config.ssl_policy.clone(),
            alpn_policy: Vec::new(),
            mutual_authentication: config.mutual_authentication.clone(),
            listener_attributes,
            tags,
        };
        self.stack.add_listener(spec)?;
        Ok(())
    }

    fn listener_default_actions(
        &mut self,
        config: &PortConfig,
        ssl_redirect: Option<u16>,
    ) -> Result<Vec<Action>, BuildError> {
        if let (Some(https_port), Protocol::Http) = (ssl_redirect, config.protocol) {
            return Ok(vec![super::ssl_redirect::redirect_action(https_port)]);
        }
        let with_default: Vec<usize> = config
            .members
            .iter()
            .copied()
            .filter(|i| {
                self.members
                    .get(*i)
                    .and_then(|m| m.ingress.spec.as_ref())
                    .is_some_and(|s| s.default_backend.is_some())
            })
            .collect();
        match with_default.as_slice() {
            [] => Ok(vec![Action::fixed_response(FixedResponseConfig {
                content_type: Some("text/plain".to_owned()),
                message_body: None,
                status_code: "404".to_owned(),
            })]),
            [index] => {
                let member = self.member(*index)?;
                let Some(backend) = member
                    .ingress
                    .spec
                    .as_ref()
                    .and_then(|s| s.default_backend.clone())
                else {
                    return Err(BuildError::Internal {
                        message: "default backend vanished".to_owned(),
                    });
                };
                let enhanced = self.enhanced_backend(*index, &backend)?;
                self.build_actions(*index, config.protocol, &enhanced)
            }
            [.., last] => {
                let keys: Vec<String> = with_default
                    .iter()
                    .filter_map(|i| self.members.get(*i).map(|m| m.key.clone()))
                    .collect();
                let origin = Origin::spec(&self.member(*last)?.key, "spec.defaultBackend");
                Err(BuildError::conflict(
                    origin,
                    format!(
                        "multiple ingress defined default backend: {}",
                        go_list(&keys)
                    ),
                ))
            }
        }
    }

    /// Listener attributes of the members on the port, merged; the first member's
    /// IngressClassParams settle (and override) keys the annotations disagree on.
    fn listener_attributes(
        &self,
        port: u16,
        config: &PortConfig,
    ) -> Result<Vec<Attribute>, BuildError> {
        let Some(annotation_protocol) = to_annotation_protocol(config.protocol) else {
            return Ok(Vec::new());
        };
        let listener_key = ListenerKey {
            protocol: annotation_protocol,
            port,
        };
        let class_attributes = config
            .members
            .first()
            .and_then(|i| self.members.get(*i))
            .and_then(|m| m.params.as_ref())
            .and_then(|p| p.listener_attributes.get(&(config.protocol, port)))
            .cloned()
            .unwrap_or_default();
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        for index in &config.members {
            let member = self.member(*index)?;
            let Some(attributes) = member.parsed.listener_attributes.get(&listener_key) else {
                continue;
            };
            for (key, value) in attributes {
                match merged.get(key) {
                    Some(first) if first != value && !class_attributes.contains_key(key) => {
                        return Err(BuildError::conflict(
                            member.annotation(&format!("listener-attributes.{listener_key}")),
                            format!(
                                "conflicting listener attributes {key}: {first} | {value} for ingress {}",
                                member.key
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
}
