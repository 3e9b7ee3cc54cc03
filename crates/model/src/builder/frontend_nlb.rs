//! The frontend NLB (`enable-frontend-nlb`): a Network Load Balancer in front of the group's
//! ALB, one TCP listener per ALB listener port (or per `frontend-nlb-listener-port-mapping`
//! entry), each forwarding to an `alb` target group in which the ALB itself is registered.
//!
//! Every member of the group must agree on each setting. The NLB's scheme defaults to the
//! controller's default scheme (not the ALB's), its subnets to discovery for that scheme, its
//! security groups and tags to the ALB's, its address type is the ALB's.

use std::collections::BTreeMap;

use contract::annotations::{
    FrontendNlb, HealthCheckPort, Protocol as AnnotationProtocol, Scheme as AnnotationScheme,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::errors::{BuildError, Origin, go_list};
use super::{MemberCtx, Task};
use crate::naming;
use crate::stack::{
    Action, AlbTarget, Attribute, HealthCheckConfig, HealthCheckMatcher, ListenerSpec,
    LoadBalancerSpec, LoadBalancerType, Protocol, Ref, Scheme, StringToken, SubnetMapping,
    TargetGroupIpAddressType, TargetGroupSpec, TargetType, resource_id,
};
use crate::subnets::{ResolveOptions, SubnetResolver};

/// Upstream's health-check defaults for the NLB's target groups.
const DEFAULT_INTERVAL: i32 = 15;
const DEFAULT_TIMEOUT: i32 = 5;
const DEFAULT_THRESHOLD: i32 = 2;
const DEFAULT_PATH: &str = "/";
const DEFAULT_SUCCESS_CODES: &str = "200";

fn settings<'m>(member: &'m MemberCtx<'_>) -> Option<&'m FrontendNlb> {
    member.parsed.frontend_nlb.as_ref()
}

impl Task<'_> {
    /// The one value the members that set it agree on, or `conflicting <what>: a | b`.
    fn agreed<T: PartialEq + Clone>(
        &self,
        what: &str,
        key: &str,
        pick: impl Fn(&FrontendNlb) -> Option<T>,
        show: impl Fn(&T) -> String,
    ) -> Result<Option<T>, BuildError> {
        let mut chosen: Option<T> = None;
        for member in &self.members {
            let Some(value) = settings(member).and_then(&pick) else {
                continue;
            };
            match &chosen {
                None => chosen = Some(value),
                Some(first) if *first != value => {
                    return Err(BuildError::conflict(
                        member.annotation(key),
                        format!("conflicting {what}: {} | {}", show(first), show(&value)),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(chosen)
    }

    /// Whether the group asks for a frontend NLB; members must agree.
    fn frontend_nlb_enabled(&self) -> Result<bool, BuildError> {
        let mut chosen: Option<bool> = None;
        for member in &self.members {
            let Some(enabled) = settings(member).and_then(|f| f.enabled) else {
                continue;
            };
            match chosen {
                None => chosen = Some(enabled),
                Some(first) if first != enabled => {
                    return Err(BuildError::conflict(
                        member.annotation("enable-frontend-nlb"),
                        "conflicting enable frontend NLB values",
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(chosen.unwrap_or(false))
    }

    /// Adds the frontend NLB, its listeners and target groups when the group enables it.
    /// Runs after the ALB and its listeners are built.
    pub(crate) fn build_frontend_nlb(&mut self) -> Result<(), BuildError> {
        if !self.frontend_nlb_enabled()? {
            return Ok(());
        }
        let Some(alb) = self
            .stack
            .resources
            .load_balancers
            .get(resource_id::LOAD_BALANCER)
            .map(|lb| lb.spec.clone())
        else {
            return Ok(());
        };
        let first = self
            .members
            .first()
            .map(|m| m.annotation("enable-frontend-nlb"))
            .unwrap_or_else(|| Origin::annotation("", "enable-frontend-nlb"));

        let scheme = self
            .agreed(
                "scheme",
                "frontend-nlb-scheme",
                |f| f.scheme,
                |s| s.to_string(),
            )?
            .map(|s| match s {
                AnnotationScheme::Internal => Scheme::Internal,
                AnnotationScheme::InternetFacing => Scheme::InternetFacing,
            })
            .unwrap_or(self.facts.default_scheme);
        let subnet_mappings = self.frontend_nlb_subnets(scheme, &alb, &first)?;
        let security_groups = match self.agreed(
            "securityGroups",
            "frontend-nlb-security-groups",
            |f| f.security_groups.clone(),
            |l| go_list(l),
        )? {
            Some(names) => self
                .resolve_frontend_security_groups(&names)?
                .into_iter()
                .map(StringToken::Literal)
                .collect(),
            None => alb.security_groups.clone(),
        };
        let attributes = self
            .agreed(
                "attributes",
                "frontend-nlb-attributes",
                |f| f.attributes.clone(),
                |m| format!("{m:?}"),
            )?
            .unwrap_or_default();
        let template = match self.agreed(
            "tags",
            "frontend-nlb-tags",
            |f| f.tags.clone(),
            |m| format!("{m:?}"),
        )? {
            Some(tags) => {
                let user = crate::tags::with_default_tags(
                    &tags,
                    &self.facts.default_tags,
                    self.facts.features.enable_default_tags_low_priority,
                );
                self.with_stack_tags(&user)
            }
            None => self.group_tags.clone(),
        };
        let spec = LoadBalancerSpec {
            name: naming::frontend_nlb_name(&alb.name),
            load_balancer_type: LoadBalancerType::Network,
            scheme,
            ip_address_type: alb.ip_address_type,
            subnet_mappings,
            security_groups,
            customer_owned_ipv4_pool: None,
            ipam_configuration: None,
            minimum_load_balancer_capacity: None,
            enable_prefix_for_ipv6_source_nat: None,
            security_groups_inbound_rules_on_private_link: None,
            load_balancer_attributes: attributes
                .into_iter()
                .map(|(key, value)| Attribute { key, value })
                .collect(),
            tags: self.resource_tags(&template, resource_id::FRONTEND_NLB),
        };
        let nlb = self.stack.add_frontend_nlb(spec)?;

        for (nlb_port, alb_port) in self.frontend_nlb_ports(&first)? {
            let health_check = self.frontend_nlb_health_check()?;
            let tg_id = resource_id::frontend_nlb_target_group(nlb_port);
            let hc_port = match &health_check.port {
                Some(IntOrString::Int(p)) => p.to_string(),
                Some(IntOrString::String(s)) => s.clone(),
                None => HealthCheckPort::TRAFFIC_PORT.to_owned(),
            };
            let hc_protocol = health_check.protocol.unwrap_or(Protocol::Http);
            let target_group = TargetGroupSpec {
                name: naming::frontend_nlb_target_group_name(
                    &self.facts.cluster_name,
                    self.group,
                    nlb_port,
                    Protocol::Tcp,
                    &hc_port,
                    hc_protocol,
                ),
                target_type: TargetType::Alb,
                port: i32::from(nlb_port),
                protocol: Protocol::Tcp,
                protocol_version: None,
                ip_address_type: Some(TargetGroupIpAddressType::Ipv4),
                health_check_config: Some(health_check),
                target_group_attributes: Vec::new(),
                target_control_port: None,
                alb_targets: vec![AlbTarget {
                    load_balancer_arn: Ref::load_balancer_arn().into(),
                    port: alb_port,
                }],
                tags: self.resource_tags(&template, &tg_id),
            };
            let arn = self.stack.add_target_group(tg_id, target_group)?;
            let listener_id = resource_id::frontend_nlb_listener(nlb_port);
            let listener = ListenerSpec {
                load_balancer_arn: nlb.clone().into(),
                port: nlb_port,
                protocol: Protocol::Tcp,
                default_actions: vec![Action::forward_to(arn)],
                certificates: Vec::new(),
                ssl_policy: None,
                alpn_policy: Vec::new(),
                mutual_authentication: None,
                listener_attributes: Vec::new(),
                tags: self.resource_tags(&template, &listener_id),
            };
            self.stack.add_listener_with_id(listener_id, listener)?;
        }
        Ok(())
    }

    /// `frontend-nlb-subnets` (order ignored when comparing members), else discovery for the
    /// NLB's scheme; `frontend-nlb-eip-allocations` one per subnet, internet-facing only.
    fn frontend_nlb_subnets(
        &self,
        scheme: Scheme,
        alb: &LoadBalancerSpec,
        first: &Origin,
    ) -> Result<Vec<SubnetMapping>, BuildError> {
        let sorted = |f: &FrontendNlb| {
            f.subnets.clone().map(|mut l| {
                l.sort();
                l
            })
        };
        let given = self.agreed("subnets", "frontend-nlb-subnets", sorted, |l| go_list(l))?;
        // The first member's order, as written.
        let given = given.and_then(|_| {
            self.members
                .iter()
                .find_map(|m| settings(m).and_then(|f| f.subnets.clone()))
        });
        let resolver = SubnetResolver::from_facts(self.facts);
        let opts = ResolveOptions {
            lb_type: LoadBalancerType::Network,
            scheme,
            require_ipv6: alb.ip_address_type != crate::stack::IpAddressType::Ipv4,
        };
        let subnets = match &given {
            Some(names) => resolver.resolve_via_names_or_ids(names, opts),
            None => resolver.resolve_via_discovery(opts),
        }
        .map_err(|error| BuildError::Subnets {
            context: "frontend NLB".to_owned(),
            error,
        })?;
        let eips = self.agreed(
            "eipAllocations",
            "frontend-nlb-eip-allocations",
            |f| f.eip_allocations.clone(),
            |l| go_list(l),
        )?;
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
        if let Some(eips) = eips {
            crate::subnets::assign_eip_allocations(&mut mappings, &eips, scheme)
                .map_err(|message| BuildError::invalid(first.clone(), message))?;
        }
        Ok(mappings)
    }

    /// `sg-...` as given, other entries by `Name` tag in the cluster's VPC.
    fn resolve_frontend_security_groups(
        &self,
        names: &[String],
    ) -> Result<Vec<String>, BuildError> {
        let mut ids = Vec::with_capacity(names.len());
        for entry in names {
            if entry.starts_with("sg-") {
                ids.push(entry.clone());
                continue;
            }
            ids.extend(
                self.facts
                    .security_groups
                    .iter()
                    .filter(|sg| {
                        sg.vpc_id == self.facts.vpc_id && sg.name.as_deref() == Some(entry)
                    })
                    .map(|sg| sg.id.clone()),
            );
        }
        if ids.len() != names.len() {
            return Err(BuildError::SecurityGroups {
                message: format!(
                    "couldn't find all securityGroups of the frontend NLB, nameOrIDs: {}, found: {}",
                    go_list(names),
                    go_list(&ids)
                ),
            });
        }
        Ok(ids)
    }

    /// NLB port → ALB port: the members' mappings merged (one NLB port may not map to two ALB
    /// ports), else every ALB listener port to itself. Mapped ALB ports without a listener
    /// are skipped.
    fn frontend_nlb_ports(&self, first: &Origin) -> Result<BTreeMap<u16, u16>, BuildError> {
        let alb_ports: Vec<u16> = self
            .stack
            .resources
            .listeners
            .values()
            .filter(|l| l.spec.load_balancer_arn == StringToken::from(Ref::load_balancer_arn()))
            .map(|l| l.spec.port)
            .collect();
        let mut merged: BTreeMap<u16, u16> = BTreeMap::new();
        let mut any = false;
        for member in &self.members {
            let Some(mapping) = settings(member).and_then(|f| f.listener_port_mapping.as_ref())
            else {
                continue;
            };
            any = true;
            for (nlb, alb) in mapping {
                match merged.insert(*nlb, *alb) {
                    Some(previous) if previous != *alb => {
                        return Err(BuildError::conflict(
                            member.annotation("frontend-nlb-listener-port-mapping"),
                            format!(
                                "conflicting Target Port, NLB listener port {nlb} maps to ALB listener ports {previous} and {alb}"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        if !any {
            return Ok(alb_ports.iter().map(|p| (*p, *p)).collect());
        }
        merged.retain(|_, alb| alb_ports.contains(alb));
        if merged.is_empty() {
            return Err(BuildError::invalid(
                first.clone(),
                format!(
                    "frontend-nlb-listener-port-mapping maps no port the ALB listens on (ALB listener ports: {alb_ports:?})"
                ),
            ));
        }
        Ok(merged)
    }

    /// The target groups' health check: each field agreed across members, upstream's defaults
    /// otherwise (traffic port, HTTP, `/`, `200`, 15 s, 5 s, 2 / 2).
    fn frontend_nlb_health_check(&self) -> Result<HealthCheckConfig, BuildError> {
        let port = self.agreed(
            "healthCheckPort",
            "frontend-nlb-healthcheck-port",
            |f| f.health_check.port.clone(),
            |p| match p {
                HealthCheckPort::TrafficPort => HealthCheckPort::TRAFFIC_PORT.to_owned(),
                HealthCheckPort::Port(n) => n.to_string(),
                HealthCheckPort::Named(n) => n.clone(),
            },
        )?;
        let protocol = self.agreed(
            "healthCheckProtocol",
            "frontend-nlb-healthcheck-protocol",
            |f| f.health_check.protocol,
            |p| p.to_string(),
        )?;
        let int = |what: &str, key: &str, pick: fn(&FrontendNlb) -> Option<i32>| {
            self.agreed(what, key, pick, |v| v.to_string())
        };
        let interval = int(
            "healthCheckIntervalSeconds",
            "frontend-nlb-healthcheck-interval-seconds",
            |f| f.health_check.interval_seconds,
        )?;
        let timeout = int(
            "healthCheckTimeoutSeconds",
            "frontend-nlb-healthcheck-timeout-seconds",
            |f| f.health_check.timeout_seconds,
        )?;
        let healthy = int(
            "healthyThresholdCount",
            "frontend-nlb-healthcheck-healthy-threshold-count",
            |f| f.health_check.healthy_threshold_count,
        )?;
        let unhealthy = int(
            "unhealthyThresholdCount",
            "frontend-nlb-healthcheck-unhealthy-threshold-count",
            |f| f.health_check.unhealthy_threshold_count,
        )?;
        let path = self.agreed(
            "healthCheckPath",
            "frontend-nlb-healthcheck-path",
            |f| f.health_check.path.clone(),
            Clone::clone,
        )?;
        let codes = self.agreed(
            "healthCheckSuccessCodes",
            "frontend-nlb-healthcheck-success-codes",
            |f| f.health_check.success_codes.clone(),
            Clone::clone,
        )?;
        Ok(HealthCheckConfig {
            port: Some(match port {
                Some(HealthCheckPort::Port(n)) => IntOrString::Int(i32::from(n)),
                _ => IntOrString::String(HealthCheckPort::TRAFFIC_PORT.to_owned()),
            }),
            protocol: Some(match protocol {
                Some(AnnotationProtocol::Https) => Protocol::Https,
                _ => Protocol::Http,
            }),
            path: Some(path.unwrap_or_else(|| DEFAULT_PATH.to_owned())),
            matcher: Some(HealthCheckMatcher {
                http_code: Some(codes.unwrap_or_else(|| DEFAULT_SUCCESS_CODES.to_owned())),
                grpc_code: None,
            }),
            interval_seconds: Some(interval.unwrap_or(DEFAULT_INTERVAL)),
            timeout_seconds: Some(timeout.unwrap_or(DEFAULT_TIMEOUT)),
            healthy_threshold_count: Some(healthy.unwrap_or(DEFAULT_THRESHOLD)),
            unhealthy_threshold_count: Some(unhealthy.unwrap_or(DEFAULT_THRESHOLD)),
        })
    }
}
