//! `enable-frontend-nlb` and `frontend-nlb-*`: an NLB placed in front of the ALB.

use super::Reader;
use super::primitives::{
    ok_list, ok_string, parse_bool, parse_enum, parse_i32, parse_string_map, strict_port,
};
use super::values::{HealthCheckPort, Protocol, Scheme, parse_success_codes, parse_tags};
use serde::Serialize;
use std::collections::BTreeMap;

/// Health check of the NLB's target groups (which target the ALB).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontendNlbHealthCheck {
    pub port: Option<HealthCheckPort>,
    pub protocol: Option<Protocol>,
    pub path: Option<String>,
    pub interval_seconds: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub healthy_threshold_count: Option<i32>,
    pub unhealthy_threshold_count: Option<i32>,
    pub success_codes: Option<String>,
}

/// All `frontend-nlb-*` settings of one Ingress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontendNlb {
    /// `enable-frontend-nlb`.
    pub enabled: Option<bool>,
    pub scheme: Option<Scheme>,
    pub subnets: Option<Vec<String>>,
    pub security_groups: Option<Vec<String>>,
    /// NLB listener port → ALB listener port.
    pub listener_port_mapping: Option<BTreeMap<u16, u16>>,
    pub eip_allocations: Option<Vec<String>>,
    pub health_check: FrontendNlbHealthCheck,
    pub attributes: Option<BTreeMap<String, String>>,
    pub tags: Option<BTreeMap<String, String>>,
}

/// `enable-frontend-nlb`.
pub fn parse_enable_frontend_nlb(raw: &str) -> Result<bool, String> {
    parse_bool(raw)
}

/// `frontend-nlb-listener-port-mapping`: `nlbPort=albPort` pairs.
pub fn parse_port_mapping(raw: &str) -> Result<BTreeMap<u16, u16>, String> {
    parse_string_map(raw)?
        .into_iter()
        .map(|(nlb, alb)| {
            let nlb_port =
                strict_port(&nlb).ok_or_else(|| format!("invalid NLB listener port: {nlb}"))?;
            let alb_port =
                strict_port(&alb).ok_or_else(|| format!("invalid ALB listener port: {alb}"))?;
            Ok((nlb_port, alb_port))
        })
        .collect()
}

/// `frontend-nlb-healthcheck-port`: `traffic-port` or a port number.
pub fn parse_nlb_health_check_port(raw: &str) -> Result<HealthCheckPort, String> {
    HealthCheckPort::parse(raw, false)
}

/// `frontend-nlb-healthcheck-protocol` (and the target group `healthcheck-protocol`).
pub fn parse_health_check_protocol(raw: &str) -> Result<Protocol, String> {
    raw.parse()
        .map_err(|_| format!("healthCheckProtocol must be within [HTTP, HTTPS]: {raw}"))
}

/// Every key read into [`FrontendNlb`].
const KEYS: &[&str] = &[
    "enable-frontend-nlb",
    "frontend-nlb-scheme",
    "frontend-nlb-subnets",
    "frontend-nlb-security-groups",
    "frontend-nlb-listener-port-mapping",
    "frontend-nlb-eip-allocations",
    "frontend-nlb-healthcheck-port",
    "frontend-nlb-healthcheck-protocol",
    "frontend-nlb-healthcheck-path",
    "frontend-nlb-healthcheck-interval-seconds",
    "frontend-nlb-healthcheck-timeout-seconds",
    "frontend-nlb-healthcheck-healthy-threshold-count",
    "frontend-nlb-healthcheck-unhealthy-threshold-count",
    "frontend-nlb-healthcheck-success-codes",
    "frontend-nlb-attributes",
    "frontend-nlb-tags",
];

impl FrontendNlb {
    /// Reads the frontend NLB keys; `None` when none is present.
    pub(super) fn read(r: &mut Reader<'_>) -> Option<Self> {
        let nlb = Self {
            enabled: r.get("enable-frontend-nlb", parse_enable_frontend_nlb),
            scheme: r.get("frontend-nlb-scheme", parse_enum),
            subnets: r.get("frontend-nlb-subnets", ok_list),
            security_groups: r.get("frontend-nlb-security-groups", ok_list),
            listener_port_mapping: r.get("frontend-nlb-listener-port-mapping", parse_port_mapping),
            eip_allocations: r.get("frontend-nlb-eip-allocations", ok_list),
            health_check: FrontendNlbHealthCheck {
                port: r.get("frontend-nlb-healthcheck-port", parse_nlb_health_check_port),
                protocol: r.get(
                    "frontend-nlb-healthcheck-protocol",
                    parse_health_check_protocol,
                ),
                path: r.get("frontend-nlb-healthcheck-path", ok_string),
                interval_seconds: r.get("frontend-nlb-healthcheck-interval-seconds", parse_i32),
                timeout_seconds: r.get("frontend-nlb-healthcheck-timeout-seconds", parse_i32),
                healthy_threshold_count: r.get(
                    "frontend-nlb-healthcheck-healthy-threshold-count",
                    parse_i32,
                ),
                unhealthy_threshold_count: r.get(
                    "frontend-nlb-healthcheck-unhealthy-threshold-count",
                    parse_i32,
                ),
                success_codes: r.get(
                    "frontend-nlb-healthcheck-success-codes",
                    parse_success_codes,
                ),
            },
            attributes: r.get("frontend-nlb-attributes", parse_string_map),
            tags: r.get("frontend-nlb-tags", parse_tags),
        };
        KEYS.iter().any(|key| r.has(key)).then_some(nlb)
    }
}
