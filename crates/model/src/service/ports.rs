//! One listener, target group and TargetGroupBinding per Service port.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ServicePort;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use contract::annotations::{Cidr, HealthCheckPort, NlbHealthCheckProtocol};

use super::security::{BackendRules, Security};
use super::settings::LbSettings;
use super::{ServiceBuildError, ServiceTask};
use crate::naming::{self, NlbTargetGroupNameInput};
use crate::stack::{
    Action, Attribute, Certificate, HealthCheckConfig, HealthCheckMatcher, IpBlock, ListenerSpec,
    NetworkingIngressRule, NetworkingPeer, NetworkingPort, Protocol, Ref, SecurityGroupPeer,
    ServiceReference, TargetGroupBindingMetadata, TargetGroupBindingNetworking,
    TargetGroupBindingResourceSpec, TargetGroupBindingSpec, TargetGroupBindingTemplate,
    TargetGroupIpAddressType, TargetGroupSpec, TargetType,
};
use crate::tags;

const PROXY_PROTOCOL: &str = "proxy_protocol_v2.enabled";
const PRESERVE_CLIENT_IP: &str = "preserve_client_ip.enabled";

/// One listener to build: the Service port it comes from and its protocol.
struct PlannedListener<'a> {
    port: &'a ServicePort,
    protocol: Protocol,
}

/// A health check, resolved.
struct HealthCheck {
    protocol: Protocol,
    /// `None`: the traffic port.
    port: Option<i32>,
    path: Option<String>,
    interval: i32,
    timeout: i32,
    healthy: i32,
    unhealthy: i32,
    matcher: Option<String>,
}

fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

fn port_protocol(port: &ServicePort) -> Result<Protocol, ServiceBuildError> {
    match port.protocol.as_deref().unwrap_or("TCP") {
        "TCP" => Ok(Protocol::Tcp),
        "UDP" => Ok(Protocol::Udp),
        other => Err(ServiceBuildError::spec(format!(
            "unsupported protocol {other} on port {} of the Service: an NLB forwards TCP and UDP",
            port.port
        ))),
    }
}

/// Whether a list entry names the port (by number or name).
fn names_port(entry: &str, port: &ServicePort) -> bool {
    entry == port.port.to_string() || port.name.as_deref() == Some(entry)
}

impl<'a> ServiceTask<'a> {
    fn tcp_udp_enabled(&self) -> bool {
        self.annotations
            .enable_tcp_udp_listener
            .unwrap_or(self.facts().features.enable_tcp_udp_listener)
    }

    /// The listeners by port number: one per port (a repeated number is dropped), or TCP and
    /// UDP of one number merged into `TCP_UDP` when enabled.
    fn plan_listeners(&self) -> Result<Vec<PlannedListener<'a>>, ServiceBuildError> {
        let mut by_number: BTreeMap<i32, Vec<&'a ServicePort>> = BTreeMap::new();
        let mut order = Vec::new();
        let ports: &'a [ServicePort] = self.ports;
        for port in ports {
            let entry = by_number.entry(port.port).or_default();
            if entry.is_empty() {
                order.push(port.port);
            }
            entry.push(port);
        }
        let mut planned = Vec::new();
        for number in order {
            let ports = &by_number[&number];
            let first = ports[0];
            let protocol = port_protocol(first)?;
            if !self.tcp_udp_enabled() || ports.len() == 1 {
                planned.push(PlannedListener {
                    port: first,
                    protocol,
                });
                continue;
            }
            if ports.len() > 2 {
                let names: Vec<String> = ports
                    .iter()
                    .map(|p| format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")))
                    .collect();
                return Err(ServiceBuildError::spec(format!(
                    "can only merge two ports, not {} ({})",
                    ports.len(),
                    names.join(", ")
                )));
            }
            let second = port_protocol(ports[1])?;
            if protocol == second {
                return Err(ServiceBuildError::spec(format!(
                    "protocols can't match for merging: {protocol}"
                )));
            }
            planned.push(PlannedListener {
                port: first,
                protocol: Protocol::TcpUdp,
            });
        }
        Ok(planned)
    }

    /// What the Service's ports ask for that cannot be built, checked before anything that
    /// depends on AWS facts (subnets), so that admission reports it whatever AWS holds.
    pub(super) fn check_ports(&self) -> Result<(), ServiceBuildError> {
        self.listener_protocols()?;
        match self.target_type {
            TargetType::Ip => {
                for port in self.ports {
                    self.target_port(port)?;
                }
            }
            // NodePorts are allocated after admission: a missing one is only an error when
            // the Service asks for none.
            TargetType::Instance | TargetType::Alb => {
                let unallocated = self.service_type() == "LoadBalancer"
                    && self
                        .service
                        .spec
                        .as_ref()
                        .and_then(|s| s.allocate_load_balancer_node_ports)
                        == Some(false)
                    && self.ports.iter().any(|p| p.node_port.unwrap_or(0) == 0);
                if unallocated {
                    return Err(ServiceBuildError::spec(
                        "unable to support instance target type with an unallocated NodePort",
                    ));
                }
            }
        }
        self.health_check()?;
        Ok(())
    }

    fn check_ssl_ports(&self) -> Result<(), ServiceBuildError> {
        if let Some(ssl_ports) = &self.annotations.ssl_ports {
            let unused: Vec<String> = ssl_ports
                .iter()
                .filter(|entry| !self.ports.iter().any(|p| names_port(entry, p)))
                .cloned()
                .collect();
            if !unused.is_empty() {
                return Err(ServiceBuildError::spec(format!(
                    "Unused port in ssl-ports annotation {}",
                    go_list(&unused)
                )));
            }
        }
        Ok(())
    }

    pub(super) fn add_listeners_and_target_groups(
        &mut self,
        lb: &LbSettings,
        security: &Security,
    ) -> Result<(), ServiceBuildError> {
        let a = self.annotations;
        let certificates = a.ssl_cert.clone().unwrap_or_default();
        for (port, protocol, target_protocol) in self.listener_protocols()? {
            self.add_listener(lb, security, port, protocol, target_protocol, &certificates)?;
        }
        Ok(())
    }

    /// Each listener's Service port, listener protocol and target group protocol.
    fn listener_protocols(
        &self,
    ) -> Result<Vec<(&'a ServicePort, Protocol, Protocol)>, ServiceBuildError> {
        self.check_ssl_ports()?;
        let a = self.annotations;
        let certificates = a.ssl_cert.as_deref().unwrap_or_default();
        let planned = self.plan_listeners()?;
        let mut listeners = Vec::new();
        for listener in &planned {
            let port = listener.port;
            let mut protocol = listener.protocol;
            let tls = protocol == Protocol::Tcp
                && !certificates.is_empty()
                && a.ssl_ports
                    .as_ref()
                    .is_none_or(|list| list.iter().any(|e| names_port(e, port)));
            if tls {
                protocol = Protocol::Tls;
            }
            if a.quic_enabled_ports
                .as_ref()
                .is_some_and(|list| list.iter().any(|e| names_port(e, port)))
            {
                protocol = match protocol {
                    Protocol::Udp => Protocol::Quic,
                    Protocol::TcpUdp => Protocol::TcpQuic,
                    other => {
                        return Err(ServiceBuildError::spec(format!(
                            "Unsupported QUIC upgrade for protocol {other}"
                        )));
                    }
                };
            }
            let target_protocol = match protocol {
                Protocol::Tls if !a.backend_protocol_ssl => Protocol::Tcp,
                other => other,
            };
            listeners.push((port, protocol, target_protocol));
        }
        Ok(listeners)
    }

    fn add_listener(
        &mut self,
        lb: &LbSettings,
        security: &Security,
        port: &'a ServicePort,
        protocol: Protocol,
        target_protocol: Protocol,
        certificates: &[String],
    ) -> Result<(), ServiceBuildError> {
        let a = self.annotations;
        let target_group = self.add_target_group(lb, security, port, target_protocol)?;
        let tls = protocol == Protocol::Tls;
        let listener_key = format!("{protocol}-{}", port.port);
        let listener_attributes = if tls {
            Vec::new()
        } else {
            a.listener_attributes
                .get(&listener_key)
                .map(|attrs| {
                    attrs
                        .iter()
                        .map(|(key, value)| Attribute {
                            key: key.clone(),
                            value: value.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let number = u16::try_from(port.port)
            .map_err(|_| ServiceBuildError::spec(format!("invalid Service port {}", port.port)))?;
        let spec = ListenerSpec {
            load_balancer_arn: Ref::load_balancer_arn().into(),
            port: number,
            protocol,
            default_actions: vec![Action::forward_to(target_group)],
            certificates: if tls {
                certificates
                    .iter()
                    .map(|arn| Certificate {
                        certificate_arn: arn.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            ssl_policy: tls.then(|| {
                a.ssl_negotiation_policy
                    .clone()
                    .unwrap_or_else(|| self.facts().default_ssl_policy.clone())
            }),
            alpn_policy: if tls {
                a.alpn_policy
                    .map(|p| vec![p.as_str().to_owned()])
                    .unwrap_or_default()
            } else {
                Vec::new()
            },
            mutual_authentication: None,
            listener_attributes,
            tags: self.resource_tags(&number.to_string()),
        };
        self.stack.add_listener(spec)?;
        Ok(())
    }

    /// The target group port: the NodePort (instance) or the numeric targetPort (ip; 1 for a
    /// named one).
    fn target_port(&self, port: &ServicePort) -> Result<i32, ServiceBuildError> {
        let value = match self.target_type {
            // A Service's targets are never `alb` (only the frontend NLB's are).
            TargetType::Instance | TargetType::Alb => port.node_port.unwrap_or(0),
            TargetType::Ip => match &port.target_port {
                Some(IntOrString::Int(n)) => *n,
                Some(IntOrString::String(_)) => 1,
                None => port.port,
            },
        };
        if value == 0 {
            return Err(ServiceBuildError::spec(match self.target_type {
                TargetType::Instance | TargetType::Alb => {
                    "TargetGroup port is empty. When using Instance targets, your service be must of type 'NodePort' or 'LoadBalancer'"
                }
                TargetType::Ip => {
                    "TargetGroup port is empty. Are you using the correct service type?"
                }
            }));
        }
        Ok(value)
    }

    /// Instance targets of a `type: LoadBalancer` Service with `externalTrafficPolicy: Local`:
    /// the health check probes kube-proxy's health port.
    fn local_traffic(&self) -> bool {
        let spec = self.service.spec.as_ref();
        self.target_type == TargetType::Instance
            && self.service_type() == "LoadBalancer"
            && spec.and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local")
    }

    fn health_check(&self) -> Result<HealthCheck, ServiceBuildError> {
        let a = self.annotations;
        let local = self.local_traffic();
        let advanced = self.facts().features.nlb_health_check_advanced_config;
        let protocol = match a.health_check_protocol {
            Some(NlbHealthCheckProtocol::Tcp) => Protocol::Tcp,
            Some(NlbHealthCheckProtocol::Http) => Protocol::Http,
            Some(NlbHealthCheckProtocol::Https) => Protocol::Https,
            None if local => Protocol::Http,
            None => Protocol::Tcp,
        };
        let port = match &a.health_check_port {
            Some(HealthCheckPort::TrafficPort) => None,
            Some(HealthCheckPort::Port(p)) => Some(i32::from(*p)),
            Some(HealthCheckPort::Named(name)) => Some(self.named_health_check_port(name)?),
            None if local => self
                .service
                .spec
                .as_ref()
                .and_then(|s| s.health_check_node_port),
            None => None,
        };
        let http = matches!(protocol, Protocol::Http | Protocol::Https);
        let default_path = if local { "/healthz" } else { "/" };
        Ok(HealthCheck {
            protocol,
            port,
            path: http.then(|| {
                a.health_check_path
                    .clone()
                    .unwrap_or_else(|| default_path.to_owned())
            }),
            interval: a.health_check_interval.unwrap_or(10),
            timeout: a.health_check_timeout.unwrap_or(if local { 6 } else { 10 }),
            healthy: a
                .health_check_healthy_threshold
                .unwrap_or(if local { 2 } else { 3 }),
            unhealthy: a
                .health_check_unhealthy_threshold
                .unwrap_or(if local { 2 } else { 3 }),
            matcher: (http && advanced).then(|| {
                a.health_check_success_codes
                    .clone()
                    .unwrap_or_else(|| "200-399".to_owned())
            }),
        })
    }

    /// A Service port name as the health-check port: its NodePort (instance) or its numeric
    /// targetPort (ip).
    fn named_health_check_port(&self, name: &str) -> Result<i32, ServiceBuildError> {
        let Some(port) = self.ports.iter().find(|p| p.name.as_deref() == Some(name)) else {
            return Err(ServiceBuildError::spec(format!(
                "failed to resolve healthCheckPort: unable to find port {name} on service {}/{}",
                self.namespace, self.name
            )));
        };
        match self.target_type {
            TargetType::Instance | TargetType::Alb => Ok(port.node_port.unwrap_or(0)),
            TargetType::Ip => match &port.target_port {
                Some(IntOrString::Int(n)) => Ok(*n),
                None => Ok(port.port),
                Some(IntOrString::String(_)) => Err(ServiceBuildError::spec(
                    "cannot use named healthCheckPort for IP TargetType when service's targetPort is a named port",
                )),
            },
        }
    }

    /// Target group attributes of one port: proxy protocol off, the base attributes, the
    /// port's own, the per-target-group proxy list, `proxy-protocol: *`; sorted by key.
    fn target_group_attributes(&self, port: &ServicePort) -> BTreeMap<String, String> {
        let a = self.annotations;
        let mut attributes = BTreeMap::from([(PROXY_PROTOCOL.to_owned(), "false".to_owned())]);
        if let Some(base) = &a.target_group_attributes {
            attributes.extend(base.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if let Ok(number) = u16::try_from(port.port)
            && let Some(own) = a.port_target_group_attributes.get(&number)
        {
            attributes.extend(
                own.iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        if let Some(ports) = &a.proxy_protocol_ports {
            let listed = ports.iter().any(|p| i32::from(*p) == port.port);
            attributes.insert(PROXY_PROTOCOL.to_owned(), listed.to_string());
        }
        if a.proxy_protocol_all {
            attributes.insert(PROXY_PROTOCOL.to_owned(), "true".to_owned());
        }
        attributes
    }

    fn add_target_group(
        &mut self,
        lb: &LbSettings,
        security: &Security,
        port: &ServicePort,
        protocol: Protocol,
    ) -> Result<Ref, ServiceBuildError> {
        let target_port = self.target_port(port)?;
        let health_check = self.health_check()?;
        let ipv6 = self
            .service
            .spec
            .as_ref()
            .and_then(|s| s.ip_families.as_ref())
            .is_some_and(|families| families.iter().any(|f| f == "IPv6"));
        if ipv6 && !lb.dualstack() {
            return Err(ServiceBuildError::spec(
                "unsupported IPv6 configuration, lb not dual-stack",
            ));
        }
        let ip_address_type = if ipv6 {
            TargetGroupIpAddressType::Ipv6
        } else {
            TargetGroupIpAddressType::Ipv4
        };
        let name = naming::nlb_target_group_name(&NlbTargetGroupNameInput {
            cluster_name: &self.facts().cluster_name,
            namespace: self.namespace,
            name: self.name,
            uid: self.uid,
            target_group_port: target_port,
            service_port: port.port,
            target_type: self.target_type,
            protocol,
            health_check_protocol: health_check.protocol,
            health_check_interval: health_check.interval,
        });
        let attributes = self.target_group_attributes(port);
        let preserve_client_ip = match attributes.get(PRESERVE_CLIENT_IP) {
            Some(value) => value == "true",
            None => self.target_type == TargetType::Instance,
        } || matches!(
            protocol,
            Protocol::Udp | Protocol::TcpUdp | Protocol::Quic | Protocol::TcpQuic
        );
        let id = format!("{}/{}:{}", self.namespace, self.name, port.port);
        let advanced = self.facts().features.nlb_health_check_advanced_config;
        let spec = TargetGroupSpec {
            name: name.clone(),
            target_type: self.target_type,
            port: target_port,
            protocol,
            protocol_version: None,
            ip_address_type: Some(ip_address_type),
            health_check_config: Some(HealthCheckConfig {
                port: Some(match health_check.port {
                    Some(p) => IntOrString::Int(p),
                    None => IntOrString::String(HealthCheckPort::TRAFFIC_PORT.to_owned()),
                }),
                protocol: Some(health_check.protocol),
                path: health_check.path.clone(),
                matcher: health_check.matcher.clone().map(|code| HealthCheckMatcher {
                    http_code: Some(code),
                    grpc_code: None,
                }),
                interval_seconds: Some(health_check.interval),
                timeout_seconds: advanced.then_some(health_check.timeout),
                healthy_threshold_count: Some(health_check.healthy),
                unhealthy_threshold_count: Some(health_check.unhealthy),
            }),
            target_group_attributes: attributes
                .into_iter()
                .map(|(key, value)| Attribute { key, value })
                .collect(),
            target_control_port: None,
            alb_targets: Vec::new(),
            tags: self.resource_tags(&id),
        };
        let arn = self.stack.add_target_group(id.clone(), spec)?;
        let networking = self.networking(
            lb,
            security,
            port,
            protocol,
            target_port,
            &health_check,
            preserve_client_ip,
            ipv6,
        )?;
        let node_selector = match (self.target_type, &self.annotations.target_node_labels) {
            (TargetType::Instance, Some(labels)) if !labels.is_empty() => Some(LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            }),
            _ => None,
        };
        let binding = TargetGroupBindingResourceSpec {
            template: TargetGroupBindingTemplate {
                metadata: TargetGroupBindingMetadata {
                    namespace: self.namespace.to_owned(),
                    name,
                    labels: tags::service_binding_labels(self.namespace, self.name),
                    annotations: BTreeMap::new(),
                },
                spec: TargetGroupBindingSpec {
                    target_group_arn: arn.clone().into(),
                    target_type: self.target_type,
                    service_ref: ServiceReference {
                        name: self.name.to_owned(),
                        port: IntOrString::Int(port.port),
                    },
                    networking,
                    node_selector,
                    ip_address_type: Some(ip_address_type),
                    vpc_id: Some(self.facts().vpc_id.clone()),
                    multi_cluster_target_group: self
                        .annotations
                        .multi_cluster_target_group
                        .unwrap_or(false),
                    target_group_protocol: Some(protocol),
                },
            },
        };
        self.stack.add_target_group_binding(id, binding)?;
        Ok(arn)
    }

    #[allow(clippy::too_many_arguments)]
    fn networking(
        &self,
        lb: &LbSettings,
        security: &Security,
        port: &ServicePort,
        protocol: Protocol,
        target_port: i32,
        health_check: &HealthCheck,
        preserve_client_ip: bool,
        ipv6: bool,
    ) -> Result<Option<TargetGroupBindingNetworking>, ServiceBuildError> {
        let udp_like = matches!(
            protocol,
            Protocol::Udp | Protocol::TcpUdp | Protocol::Quic | Protocol::TcpQuic
        );
        let both = matches!(protocol, Protocol::TcpUdp | Protocol::TcpQuic);
        // The traffic port as the binding names it: the NodePort, or the pod's targetPort.
        let traffic_port = match (self.target_type, &port.target_port) {
            (TargetType::Ip, Some(IntOrString::String(name))) => IntOrString::String(name.clone()),
            _ => IntOrString::Int(target_port),
        };
        let port_rule = |protocol: &str, port: Option<IntOrString>| NetworkingPort {
            protocol: Some(protocol.to_owned()),
            port,
        };
        match &security.backend_rules {
            BackendRules::None => Ok(None),
            BackendRules::FromGroup(group) => {
                let from = vec![NetworkingPeer {
                    ip_block: None,
                    security_group: Some(SecurityGroupPeer {
                        group_id: group.clone(),
                    }),
                }];
                let mut ports = Vec::new();
                if self.facts().disable_restricted_sg_rules {
                    ports.push(port_rule("TCP", None));
                    if udp_like {
                        ports.push(port_rule("UDP", None));
                    }
                } else {
                    let hc_is_traffic = health_check.port.is_none_or(|p| p == target_port);
                    if udp_like {
                        ports.push(port_rule("UDP", Some(traffic_port.clone())));
                        if both || hc_is_traffic {
                            ports.push(port_rule("TCP", Some(traffic_port.clone())));
                        }
                    } else {
                        ports.push(port_rule("TCP", Some(traffic_port.clone())));
                    }
                    if let Some(hc) = health_check.port
                        && hc != target_port
                    {
                        ports.push(port_rule("TCP", Some(IntOrString::Int(hc))));
                    }
                }
                Ok(Some(TargetGroupBindingNetworking {
                    ingress: vec![NetworkingIngressRule { from, ports }],
                }))
            }
            BackendRules::Legacy => {
                let subnet_cidrs: Vec<String> = if ipv6 {
                    lb.subnet_cidrs_v6.clone()
                } else {
                    lb.subnet_cidrs_v4.clone()
                };
                let mut default_range = false;
                let traffic_sources: Vec<String> = if udp_like || preserve_client_ip {
                    let ranges: Vec<Cidr> = self.source_ranges()?;
                    let ranges: Vec<String> = ranges
                        .iter()
                        .filter(|c| c.is_ipv4() != ipv6)
                        .map(ToString::to_string)
                        .collect();
                    if ranges.is_empty() {
                        default_range = true;
                        self.default_legacy_sources(lb, ipv6)
                    } else {
                        ranges
                    }
                } else {
                    subnet_cidrs.clone()
                };
                let traffic_ports: Vec<NetworkingPort> = if both {
                    vec![
                        port_rule("TCP", Some(traffic_port.clone())),
                        port_rule("UDP", Some(traffic_port.clone())),
                    ]
                } else if udp_like {
                    vec![port_rule("UDP", Some(traffic_port.clone()))]
                } else {
                    vec![port_rule("TCP", Some(traffic_port.clone()))]
                };
                let mut rules = vec![NetworkingIngressRule {
                    from: cidr_peers(&traffic_sources),
                    ports: traffic_ports,
                }];
                let open_to_all = traffic_sources
                    .iter()
                    .any(|c| c == "0.0.0.0/0" || c == "::/0");
                let hc_uses_traffic_port = health_check.port.is_none_or(|p| p == target_port);
                let skip_health_rule = protocol != Protocol::Udp
                    && hc_uses_traffic_port
                    && (!preserve_client_ip || default_range || open_to_all);
                if !skip_health_rule {
                    let hc_port = health_check.port.unwrap_or(target_port);
                    rules.push(NetworkingIngressRule {
                        from: cidr_peers(&subnet_cidrs),
                        ports: vec![port_rule("TCP", Some(IntOrString::Int(hc_port)))],
                    });
                }
                Ok(Some(TargetGroupBindingNetworking { ingress: rules }))
            }
        }
    }

    /// Sources of a legacy NLB's traffic rule when no range is given: the VPC (internal) or
    /// everyone (internet-facing).
    fn default_legacy_sources(&self, lb: &LbSettings, ipv6: bool) -> Vec<String> {
        if lb.scheme == crate::stack::Scheme::Internal {
            let mut seen = BTreeSet::new();
            self.facts()
                .vpc_cidrs
                .iter()
                .filter(|c| c.contains(':') == ipv6 && seen.insert(c.as_str()))
                .cloned()
                .collect()
        } else if ipv6 {
            vec!["::/0".to_owned()]
        } else {
            vec!["0.0.0.0/0".to_owned()]
        }
    }
}

fn cidr_peers(cidrs: &[String]) -> Vec<NetworkingPeer> {
    cidrs
        .iter()
        .map(|cidr| NetworkingPeer {
            ip_block: Some(IpBlock { cidr: cidr.clone() }),
            security_group: None,
        })
        .collect()
}
