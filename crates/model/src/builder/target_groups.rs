//! Target groups, one per Ingress and Service port, and the TargetGroupBindings that register
//! their targets: target type, port, protocol, health check, attributes, tags, node selector and
//! the security-group rules on the targets.

use std::collections::BTreeMap;

use contract::annotations::{
    BackendAnnotations, HealthCheckPort, Protocol as AnnotationProtocol,
    ProtocolVersion as AnnotationProtocolVersion, TargetType as AnnotationTargetType,
};
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Task;
use super::errors::BuildError;
use super::listeners::to_protocol;
use super::load_balancer::is_dualstack;
use crate::naming::{self, TargetGroupNameInput};
use crate::stack::{
    Attribute, HealthCheckConfig, HealthCheckMatcher, NetworkingIngressRule, NetworkingPeer,
    NetworkingPort, Protocol, ProtocolVersion, Ref, SecurityGroupPeer, ServiceReference,
    TargetGroupBindingMetadata, TargetGroupBindingNetworking, TargetGroupBindingResourceSpec,
    TargetGroupBindingSpec, TargetGroupBindingTemplate, TargetGroupIpAddressType, TargetGroupSpec,
    TargetType, int_or_string, resource_id,
};
use crate::tags;

const TRAFFIC_PORT: &str = "traffic-port";

/// `namespace/name`, written only when an error needs it.
pub(crate) struct NsName<'a>(&'a str, &'a str);

impl std::fmt::Display for NsName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}
const HEALTH_CHECK_PATH_HTTP: &str = "/";
const HEALTH_CHECK_PATH_GRPC: &str = "/AWS.ALB/healthcheck";
const SUCCESS_CODES_HTTP: &str = "200";
const SUCCESS_CODES_GRPC: &str = "12";
const HEALTH_CHECK_INTERVAL_SECONDS: i32 = 15;
const HEALTH_CHECK_TIMEOUT_SECONDS: i32 = 5;
const HEALTHY_THRESHOLD_COUNT: i32 = 2;
const UNHEALTHY_THRESHOLD_COUNT: i32 = 2;

fn to_target_type(value: AnnotationTargetType) -> TargetType {
    match value {
        AnnotationTargetType::Instance => TargetType::Instance,
        AnnotationTargetType::Ip => TargetType::Ip,
    }
}

fn to_protocol_version(value: AnnotationProtocolVersion) -> ProtocolVersion {
    match value {
        AnnotationProtocolVersion::Http1 => ProtocolVersion::Http1,
        AnnotationProtocolVersion::Http2 => ProtocolVersion::Http2,
        AnnotationProtocolVersion::Grpc => ProtocolVersion::Grpc,
    }
}

/// The Service port a backend names: by number (`port`) or by name.
fn lookup_service_port<'s>(service: &'s Service, port: &IntOrString) -> Option<&'s ServicePort> {
    service
        .spec
        .as_ref()?
        .ports
        .iter()
        .flatten()
        .find(|p| match port {
            IntOrString::Int(n) => p.port == *n,
            IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
        })
}

/// Where traffic reaches the pods behind a Service port: `targetPort`, defaulting to `port`.
fn pod_port(service_port: &ServicePort) -> IntOrString {
    service_port
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(service_port.port))
}

fn node_port(service_port: &ServicePort) -> Option<i32> {
    service_port.node_port.filter(|p| *p > 0)
}

impl<'a> Task<'a> {
    /// The target group (and binding) for `service:port` as used by a member; built once per
    /// resource ID.
    pub(crate) fn target_group(
        &mut self,
        member_index: usize,
        service_name: &str,
        port: &IntOrString,
    ) -> Result<Ref, BuildError> {
        let (namespace, ingress_name) = {
            let m = self.member(member_index)?;
            (m.namespace, m.name)
        };
        let key = NsName(namespace, ingress_name);
        let id = resource_id::target_group(namespace, ingress_name, service_name, port);
        if self.target_group_ids.contains(&id) {
            return Ok(Ref::target_group_arn(id));
        }
        let service_key = NsName(namespace, service_name);
        let service = self.service(namespace, service_name).ok_or_else(|| {
            BuildError::service(
                &key.to_string(),
                format!("services \"{service_name}\" not found in namespace {namespace}"),
            )
        })?;
        let service_port = lookup_service_port(service, port).ok_or_else(|| {
            BuildError::service(
                &key.to_string(),
                format!(
                    "unable to find port {} on service {service_key}",
                    int_or_string(port)
                ),
            )
        })?;
        let annotations = self.backend_annotations(member_index, Some(service))?;
        let ingress_only_multi_cluster = self
            .backend_annotations(member_index, None)?
            .multi_cluster_target_group;
        let member = self.member(member_index)?;
        let origin = |suffix: &str| member.annotation(suffix);

        let target_type = match member.params.as_ref().and_then(|p| p.target_type) {
            Some(t) => t,
            None => annotations
                .target_type
                .map_or(self.facts.default_target_type, to_target_type),
        };
        if target_type == TargetType::Ip && !self.facts.features.enable_ip_target_type {
            return Err(BuildError::invalid(
                origin("target-type"),
                "unsupported targetType: ip when EnableIPTargetType is false",
            ));
        }
        let protocol = annotations
            .backend_protocol
            .map_or(Protocol::Http, to_protocol);
        let protocol_version = annotations
            .backend_protocol_version
            .map_or(ProtocolVersion::Http1, to_protocol_version);
        let ipv6 = service
            .spec
            .as_ref()
            .and_then(|s| s.ip_families.as_ref())
            .is_some_and(|families| families.iter().any(|f| f == "IPv6"));
        let ip_address_type = if ipv6 {
            if !is_dualstack(self.ip_address_type) {
                return Err(BuildError::service(
                    &key.to_string(),
                    format!(
                        "Service {service_key}: unsupported IPv6 configuration, lb not dual-stack"
                    ),
                ));
            }
            TargetGroupIpAddressType::Ipv6
        } else {
            TargetGroupIpAddressType::Ipv4
        };
        let target_group_port = match target_type {
            TargetType::Instance | TargetType::Alb => node_port(service_port).ok_or_else(|| {
                BuildError::service(
                    &key.to_string(),
                    format!(
                        "Service {service_key}: TargetGroup port is empty. When using Instance targets, your service be must of type 'NodePort' or 'LoadBalancer'"
                    ),
                )
            })?,
            TargetType::Ip => match pod_port(service_port) {
                IntOrString::Int(n) => n,
                IntOrString::String(_) => 1,
            },
        };
        let health_check = health_check_config(
            &key,
            service,
            &service_key,
            &annotations,
            target_type,
            protocol,
            protocol_version,
        )?;
        let target_control_port = if self.facts.features.alb_target_control_agent {
            let control = u16::try_from(service_port.port)
                .ok()
                .and_then(|p| annotations.target_control_port(service_name, p));
            match (control, target_type) {
                (Some(_), TargetType::Instance) => {
                    return Err(BuildError::invalid(
                        origin(&format!(
                            "target-control-port.{service_name}.{}",
                            service_port.port
                        )),
                        "target control port is not supported for instance target target group",
                    ));
                }
                (control, _) => control.map(i32::from),
            }
        } else {
            None
        };
        let user_tags = self.backend_user_tags(member_index, service, &annotations)?;
        let name = naming::target_group_name(&TargetGroupNameInput {
            cluster_name: &self.facts.cluster_name,
            group: self.group,
            ingress_namespace: namespace,
            ingress_name,
            service_namespace: namespace,
            service_name,
            service_uid: service.metadata.uid.as_deref().unwrap_or_default(),
            service_port: port,
            target_port: target_group_port,
            target_type,
            protocol,
            protocol_version,
            target_control_port,
        });
        let node_selector = match (&annotations.target_node_labels, target_type) {
            (Some(labels), TargetType::Instance) if !labels.is_empty() => Some(LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            }),
            _ => None,
        };
        let traffic_port = match target_type {
            TargetType::Instance | TargetType::Alb => IntOrString::Int(target_group_port),
            TargetType::Ip => pod_port(service_port),
        };
        let networking = self.binding_networking(traffic_port, health_check.port.as_ref());
        let multi_cluster = ingress_only_multi_cluster == Some(true)
            || annotations.multi_cluster_target_group == Some(true);
        let spec = TargetGroupSpec {
            name: name.clone(),
            target_type,
            port: target_group_port,
            protocol,
            protocol_version: Some(protocol_version),
            ip_address_type: Some(ip_address_type),
            health_check_config: Some(health_check),
            target_group_attributes: annotations
                .target_group_attributes
                .iter()
                .flatten()
                .map(|(k, v)| Attribute {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            target_control_port,
            alb_targets: Vec::new(),
            tags: self.resource_tags(&user_tags, &id),
        };
        let binding = TargetGroupBindingResourceSpec {
            template: TargetGroupBindingTemplate {
                metadata: TargetGroupBindingMetadata {
                    namespace: namespace.to_owned(),
                    name,
                    labels: tags::target_group_binding_labels(self.group),
                    annotations: BTreeMap::new(),
                },
                spec: TargetGroupBindingSpec {
                    target_group_arn: Ref::target_group_arn(id.clone()).into(),
                    target_type,
                    service_ref: ServiceReference {
                        name: service_name.to_owned(),
                        port: port.clone(),
                    },
                    networking,
                    node_selector,
                    ip_address_type: Some(ip_address_type),
                    vpc_id: Some(self.facts.vpc_id.clone()),
                    multi_cluster_target_group: multi_cluster,
                    target_group_protocol: Some(protocol),
                },
            },
        };
        self.target_group_ids.insert(id.clone());
        self.pending_target_groups
            .push((id.clone(), Box::new((spec, binding))));
        Ok(Ref::target_group_arn(id))
    }

    /// Rules on the targets' security groups admitting the backend source: the traffic port
    /// and a separate health-check port, or every TCP port with `--disable-restricted-sg-rules`.
    fn binding_networking(
        &self,
        traffic_port: IntOrString,
        health_check_port: Option<&IntOrString>,
    ) -> Option<TargetGroupBindingNetworking> {
        let source = self.backend_source.clone()?;
        let rule = |port: Option<IntOrString>| NetworkingIngressRule {
            from: vec![NetworkingPeer {
                ip_block: None,
                security_group: Some(SecurityGroupPeer {
                    group_id: source.clone(),
                }),
            }],
            ports: vec![NetworkingPort {
                protocol: Some("TCP".to_owned()),
                port,
            }],
        };
        if self.facts.disable_restricted_sg_rules {
            return Some(TargetGroupBindingNetworking {
                ingress: vec![rule(None)],
            });
        }
        let mut ingress = vec![rule(Some(traffic_port))];
        if let Some(port) =
            health_check_port.filter(|p| **p != IntOrString::String(TRAFFIC_PORT.to_owned()))
        {
            ingress.push(rule(Some(port.clone())));
        }
        Some(TargetGroupBindingNetworking { ingress })
    }
}

/// The health check of a target group, from the backend annotations and upstream's defaults.
fn health_check_config(
    ingress: &NsName<'_>,
    service: &Service,
    service_key: &NsName<'_>,
    annotations: &BackendAnnotations,
    target_type: TargetType,
    protocol: Protocol,
    protocol_version: ProtocolVersion,
) -> Result<HealthCheckConfig, BuildError> {
    let port = match &annotations.healthcheck_port {
        None | Some(HealthCheckPort::TrafficPort) => IntOrString::String(TRAFFIC_PORT.to_owned()),
        Some(HealthCheckPort::Port(port)) => IntOrString::Int(i32::from(*port)),
        Some(HealthCheckPort::Named(name)) => {
            let named = IntOrString::String(name.clone());
            let service_port = lookup_service_port(service, &named).ok_or_else(|| {
                BuildError::service(
                    &ingress.to_string(),
                    format!(
                        "failed to resolve healthCheckPort: unable to find port {name} on service {service_key}"
                    ),
                )
            })?;
            match (target_type, pod_port(service_port)) {
                // `alb` targets are only the frontend NLB's, never a backend's.
                (TargetType::Instance | TargetType::Alb, _) => {
                    IntOrString::Int(service_port.node_port.unwrap_or_default())
                }
                (TargetType::Ip, IntOrString::Int(n)) => IntOrString::Int(n),
                (TargetType::Ip, IntOrString::String(_)) => {
                    return Err(BuildError::service(
                        &ingress.to_string(),
                        format!(
                            "Service {service_key}: cannot use named healthCheckPort for IP TargetType when service's targetPort is a named port"
                        ),
                    ));
                }
            }
        }
    };
    let grpc = protocol_version == ProtocolVersion::Grpc;
    let codes = annotations.success_codes.clone().unwrap_or_else(|| {
        if grpc {
            SUCCESS_CODES_GRPC
        } else {
            SUCCESS_CODES_HTTP
        }
        .to_owned()
    });
    let matcher = if grpc {
        HealthCheckMatcher {
            http_code: None,
            grpc_code: Some(codes),
        }
    } else {
        HealthCheckMatcher {
            http_code: Some(codes),
            grpc_code: None,
        }
    };
    let health_check_protocol = annotations
        .healthcheck_protocol
        .map_or(protocol, |p| match p {
            AnnotationProtocol::Http => Protocol::Http,
            AnnotationProtocol::Https => Protocol::Https,
        });
    Ok(HealthCheckConfig {
        port: Some(port),
        protocol: Some(health_check_protocol),
        path: Some(annotations.healthcheck_path.clone().unwrap_or_else(|| {
            if grpc {
                HEALTH_CHECK_PATH_GRPC
            } else {
                HEALTH_CHECK_PATH_HTTP
            }
            .to_owned()
        })),
        matcher: Some(matcher),
        interval_seconds: Some(
            annotations
                .healthcheck_interval_seconds
                .unwrap_or(HEALTH_CHECK_INTERVAL_SECONDS),
        ),
        timeout_seconds: Some(
            annotations
                .healthcheck_timeout_seconds
                .unwrap_or(HEALTH_CHECK_TIMEOUT_SECONDS),
        ),
        healthy_threshold_count: Some(
            annotations
                .healthy_threshold_count
                .unwrap_or(HEALTHY_THRESHOLD_COUNT),
        ),
        unhealthy_threshold_count: Some(
            annotations
                .unhealthy_threshold_count
                .unwrap_or(UNHEALTHY_THRESHOLD_COUNT),
        ),
    })
}
