//! The one parser of a Service's `service.beta.kubernetes.io/*` annotations (the NLB ones),
//! shared by the Service admission webhook and the Service model builder.
//!
//! * [`ServiceAnnotations::parse`] gives the typed settings, or one error per bad key;
//! * [`check_service_annotations`] is that same parse for admission: its errors, plus the
//!   unknown `aws-load-balancer-*` keys (with a "did you mean" suggestion);
//! * [`SERVICE_ANNOTATIONS`] describes every key (README reference).
//!
//! Encodings are upstream's (Go `ParseBool`, base-10 int32, comma lists, `k=v` maps); the
//! messages of value errors upstream spells out (`unknown scheme: x`, ...) are kept verbatim.
//! Checks that need the Service's ports (`ssl-ports`, a named `healthcheck-port`, ...) are the
//! model builder's.

use std::collections::BTreeMap;

use serde::Serialize;

use super::primitives::{
    Cidr, edit_distance, parse_bool, parse_enum, parse_i32, parse_string_list, parse_string_map,
    string_enum,
};
use super::values::{HealthCheckPort, TargetType, parse_tags};
use super::{AnnotationError, Annotations, Reader, Report, UnknownAnnotation};

/// The prefix of the Service annotations.
pub const SERVICE_PREFIX: &str = "service.beta.kubernetes.io/";
/// The head of every NLB annotation key after [`SERVICE_PREFIX`]; unknown keys with this head
/// are reported.
const NLB_HEAD: &str = "aws-load-balancer-";

string_enum! {
    /// `aws-load-balancer-alpn-policy`.
    pub enum AlpnPolicy as "ALPN policy" {
        None = "None",
        Http1Only = "HTTP1Only",
        Http2Only = "HTTP2Only",
        Http2Optional = "HTTP2Optional",
        Http2Preferred = "HTTP2Preferred",
    }
}

string_enum! {
    /// An NLB's address families.
    pub enum NlbIpAddressType as "IPAddressType" {
        Ipv4 = "ipv4",
        Dualstack = "dualstack",
    }
}

string_enum! {
    /// An NLB's scheme.
    pub enum NlbScheme as "scheme" {
        Internal = "internal",
        InternetFacing = "internet-facing",
    }
}

string_enum! {
    /// The protocol of an NLB target group's health check (the annotation is case-insensitive).
    pub enum NlbHealthCheckProtocol as "health check protocol" {
        Tcp = "TCP",
        Http = "HTTP",
        Https = "HTTPS",
    }
}

string_enum! {
    /// `on` / `off` switches.
    pub enum OnOff as "value" {
        On = "on",
        Off = "off",
    }
}

/// The `dns_record.client_routing_policy` values an NLB accepts.
const CLIENT_ROUTING_POLICIES: [&str; 3] = [
    "availability_zone_affinity",
    "partial_availability_zone_affinity",
    "any_availability_zone",
];

/// A `source-nat-ipv6-prefixes` entry: `auto_assigned` or an IPv6 /80.
pub const AUTO_ASSIGNED: &str = "auto_assigned";

/// Typed NLB annotations of a Service. `None` means the annotation is absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAnnotations {
    /// `aws-load-balancer-type` (`nlb-ip`, `external`, or another controller's value).
    pub load_balancer_type: Option<String>,
    pub target_type: Option<TargetType>,
    pub name: Option<String>,
    pub scheme: Option<NlbScheme>,
    /// The deprecated `aws-load-balancer-internal`: `true` is internal.
    pub internal: Option<bool>,
    pub ip_address_type: Option<NlbIpAddressType>,
    pub subnets: Option<Vec<String>>,
    pub eip_allocations: Option<Vec<String>>,
    pub private_ipv4_addresses: Option<Vec<String>>,
    pub ipv6_addresses: Option<Vec<String>>,
    pub enable_prefix_for_ipv6_source_nat: Option<OnOff>,
    pub source_nat_ipv6_prefixes: Option<Vec<String>>,
    /// `load-balancer-source-ranges` (`spec.loadBalancerSourceRanges` wins when set).
    pub source_ranges: Option<Vec<Cidr>>,
    pub security_group_prefix_lists: Option<Vec<String>>,
    pub security_groups: Option<Vec<String>>,
    pub manage_backend_security_group_rules: Option<bool>,
    pub disable_nlb_security_group: Option<bool>,
    pub inbound_sg_rules_on_private_link: Option<OnOff>,
    /// `enable-icmp-for-path-mtu-discovery` is exactly `on`.
    pub icmp_for_path_mtu_discovery: bool,
    pub ssl_cert: Option<Vec<String>>,
    /// Port numbers or names.
    pub ssl_ports: Option<Vec<String>>,
    pub ssl_negotiation_policy: Option<String>,
    pub alpn_policy: Option<AlpnPolicy>,
    /// `backend-protocol: ssl` makes TLS target groups behind TLS listeners.
    pub backend_protocol_ssl: bool,
    pub quic_enabled_ports: Option<Vec<String>>,
    pub enable_tcp_udp_listener: Option<bool>,
    /// `aws-load-balancer-listener-attributes.<Protocol>-<Port>`, by `<Protocol>-<Port>`.
    pub listener_attributes: BTreeMap<String, BTreeMap<String, String>>,
    pub health_check_protocol: Option<NlbHealthCheckProtocol>,
    pub health_check_port: Option<HealthCheckPort>,
    pub health_check_path: Option<String>,
    pub health_check_interval: Option<i32>,
    pub health_check_timeout: Option<i32>,
    pub health_check_healthy_threshold: Option<i32>,
    pub health_check_unhealthy_threshold: Option<i32>,
    pub health_check_success_codes: Option<String>,
    pub target_group_attributes: Option<BTreeMap<String, String>>,
    /// `aws-load-balancer-target-group-attributes.<port>`, by Service port.
    pub port_target_group_attributes: BTreeMap<u16, BTreeMap<String, String>>,
    /// `proxy-protocol: *`.
    pub proxy_protocol_all: bool,
    pub proxy_protocol_ports: Option<Vec<u16>>,
    pub load_balancer_attributes: Option<BTreeMap<String, String>>,
    pub access_log_enabled: Option<bool>,
    pub access_log_bucket: Option<String>,
    pub access_log_prefix: Option<String>,
    pub cross_zone_load_balancing: Option<bool>,
    /// `CapacityUnits` of `minimum-load-balancer-capacity`.
    pub minimum_capacity_units: Option<i32>,
    pub additional_tags: Option<BTreeMap<String, String>>,
    pub target_node_labels: Option<BTreeMap<String, String>>,
    pub multi_cluster_target_group: Option<bool>,
}

/// How a Service annotation's value is written (README reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceValueKind {
    String,
    Bool,
    Int32,
    StringList,
    StringMap,
    Json,
    Enum(&'static [&'static str]),
}

/// One Service annotation.
#[derive(Clone, Copy, Debug)]
pub struct ServiceAnnotationSpec {
    /// The key after [`SERVICE_PREFIX`]; a templated family ends with `.`.
    pub suffix: &'static str,
    pub kind: ServiceValueKind,
    /// The behaviour when absent.
    pub default: &'static str,
    pub doc: &'static str,
}

impl ServiceAnnotationSpec {
    pub fn key(&self) -> String {
        format!("{SERVICE_PREFIX}{}", self.suffix)
    }

    pub fn templated(&self) -> bool {
        self.suffix.ends_with('.')
    }
}

const fn entry(
    suffix: &'static str,
    kind: ServiceValueKind,
    default: &'static str,
    doc: &'static str,
) -> ServiceAnnotationSpec {
    ServiceAnnotationSpec {
        suffix,
        kind,
        default,
        doc,
    }
}

use ServiceValueKind::{Bool, Enum, Int32, Json, StringList, StringMap};
const STRING: ServiceValueKind = ServiceValueKind::String;

/// Every Service annotation this controller reads (and the in-tree ones it knows to ignore).
#[rustfmt::skip]
pub static SERVICE_ANNOTATIONS: &[ServiceAnnotationSpec] = &[
    entry("aws-load-balancer-type", STRING, "", "`external` (with `nlb-target-type`) or `nlb-ip` selects this controller when the Service has no `loadBalancerClass`; `nlb` is the in-tree controller's."),
    entry("aws-load-balancer-nlb-target-type", Enum(TargetType::VALUES), "--default-target-type", "Register pods (`ip`) or nodes (`instance`)."),
    entry("aws-load-balancer-name", STRING, "a generated `k8s-…` name", "NLB name, at most 32 characters; only used when the NLB is created."),
    entry("aws-load-balancer-scheme", Enum(NlbScheme::VALUES), "existing NLB's, else --default-load-balancer-scheme", "`internal` or `internet-facing`; a change replaces the NLB."),
    entry("aws-load-balancer-internal", Bool, "", "Deprecated: `true` is internal, `false` internet-facing; `aws-load-balancer-scheme` wins."),
    entry("aws-load-balancer-ip-address-type", Enum(NlbIpAddressType::VALUES), "ipv4", "Address families of the NLB."),
    entry("aws-load-balancer-subnets", StringList, "existing NLB's, else discovered", "Subnet IDs or `Name` tags, one per Availability Zone."),
    entry("aws-load-balancer-eip-allocations", StringList, "", "Elastic IP allocation IDs, one per subnet in order (internet-facing)."),
    entry("aws-load-balancer-private-ipv4-addresses", StringList, "", "Private IPv4 addresses, one inside each subnet (internal)."),
    entry("aws-load-balancer-ipv6-addresses", StringList, "", "IPv6 addresses, one inside each subnet (dualstack)."),
    entry("aws-load-balancer-enable-prefix-for-ipv6-source-nat", Enum(OnOff::VALUES), "off", "Source NAT prefixes for IPv6 (dualstack, UDP)."),
    entry("aws-load-balancer-source-nat-ipv6-prefixes", StringList, "", "Per subnet `auto_assigned` or an IPv6 /80 inside it."),
    entry("load-balancer-source-ranges", StringList, "0.0.0.0/0", "Client CIDRs allowed by the managed security group; `spec.loadBalancerSourceRanges` wins."),
    entry("aws-load-balancer-security-group-prefix-lists", StringList, "", "Managed prefix lists allowed by the managed security group (no default 0.0.0.0/0 then)."),
    entry("aws-load-balancer-security-groups", StringList, "a managed security group", "Security group IDs or `Name` tags replacing the managed one."),
    entry("aws-load-balancer-manage-backend-security-group-rules", Bool, "--enable-manage-backend-security-group-rules with explicit groups", "Whether node/pod security group rules are managed."),
    entry("aws-load-balancer-disable-nlb-sg", Bool, "false", "Create the NLB without security groups (only at creation)."),
    entry("aws-load-balancer-inbound-sg-rules-on-private-link-traffic", Enum(OnOff::VALUES), "", "Whether security group rules apply to PrivateLink traffic."),
    entry("aws-load-balancer-enable-icmp-for-path-mtu-discovery", STRING, "", "`on` adds ICMP fragmentation-needed rules to the managed security group."),
    entry("aws-load-balancer-ssl-cert", StringList, "", "Certificate ARNs; the first is the default. Makes TLS listeners."),
    entry("aws-load-balancer-ssl-ports", StringList, "every port", "Port numbers or names that get TLS listeners."),
    entry("aws-load-balancer-ssl-negotiation-policy", STRING, "--default-ssl-policy", "Security policy of TLS listeners."),
    entry("aws-load-balancer-alpn-policy", Enum(AlpnPolicy::VALUES), "", "ALPN policy of TLS listeners."),
    entry("aws-load-balancer-backend-protocol", STRING, "tcp", "`ssl` makes TLS target groups behind TLS listeners."),
    entry("aws-load-balancer-quic-enabled-ports", StringList, "", "UDP ports (numbers or names) that become QUIC listeners."),
    entry("aws-load-balancer-enable-tcp-udp-listener", Bool, "EnableTCPUDPListener gate", "Merge a TCP and a UDP port of the same number into one TCP_UDP listener."),
    entry("aws-load-balancer-listener-attributes.", StringMap, "", "Attributes of the listener `<Protocol>-<Port>`, e.g. `aws-load-balancer-listener-attributes.TCP-80: tcp.idle_timeout.seconds=400`."),
    entry("aws-load-balancer-healthcheck-protocol", Enum(&["tcp", "http", "https"]), "tcp (http for instance + Local)", "Health check protocol (any case)."),
    entry("aws-load-balancer-healthcheck-port", STRING, "traffic-port", "`traffic-port`, a port number or a Service port name."),
    entry("aws-load-balancer-healthcheck-path", STRING, "/", "Path of HTTP(S) health checks."),
    entry("aws-load-balancer-healthcheck-interval", Int32, "10", "Seconds between health checks."),
    entry("aws-load-balancer-healthcheck-timeout", Int32, "10", "Health check timeout in seconds."),
    entry("aws-load-balancer-healthcheck-healthy-threshold", Int32, "3", "Successes before a target is healthy."),
    entry("aws-load-balancer-healthcheck-unhealthy-threshold", Int32, "3", "Failures before a target is unhealthy."),
    entry("aws-load-balancer-healthcheck-success-codes", STRING, "200-399", "HTTP codes of a healthy target."),
    entry("aws-load-balancer-target-group-attributes", StringMap, "", "Target group attributes of every port."),
    entry("aws-load-balancer-target-group-attributes.", StringMap, "", "Target group attributes of one Service port, e.g. `aws-load-balancer-target-group-attributes.443`."),
    entry("aws-load-balancer-proxy-protocol", STRING, "", "`*` enables proxy protocol v2 on every target group."),
    entry("aws-load-balancer-proxy-protocol-per-target-group", StringList, "", "Ports whose target groups get proxy protocol v2 (the others do not)."),
    entry("aws-load-balancer-attributes", StringMap, "", "NLB attributes."),
    entry("aws-load-balancer-access-log-enabled", Bool, "", "Deprecated: use `aws-load-balancer-attributes`."),
    entry("aws-load-balancer-access-log-s3-bucket-name", STRING, "", "Deprecated: use `aws-load-balancer-attributes`."),
    entry("aws-load-balancer-access-log-s3-bucket-prefix", STRING, "", "Deprecated: use `aws-load-balancer-attributes`."),
    entry("aws-load-balancer-cross-zone-load-balancing-enabled", Bool, "", "Deprecated: use `aws-load-balancer-attributes`."),
    entry("aws-load-balancer-minimum-load-balancer-capacity", StringMap, "", "`CapacityUnits=<n>` reserved capacity."),
    entry("aws-load-balancer-additional-resource-tags", StringMap, "", "Tags of the NLB, listeners, target groups and managed security group."),
    entry("aws-load-balancer-target-node-labels", StringMap, "", "Labels of the nodes registered in instance mode."),
    entry("aws-load-balancer-multi-cluster-target-group", Bool, "false", "Leave targets registered by other clusters alone."),
    entry("actions.", Json, "", "Weighted forwarding of the listener `<Protocol>-<Port>`: not supported yet, refused."),
    entry("aws-load-balancer-connection-draining-enabled", STRING, "", "In-tree only; no effect (use the target group attribute `deregistration_delay.timeout_seconds`)."),
    entry("aws-load-balancer-connection-draining-timeout", STRING, "", "In-tree only; no effect (use the target group attribute `deregistration_delay.timeout_seconds`)."),
    entry("aws-load-balancer-connection-idle-timeout", STRING, "", "In-tree only; no effect (use the listener attribute `tcp.idle_timeout.seconds`)."),
    entry("aws-load-balancer-extra-security-groups", STRING, "", "In-tree only; no effect (use `aws-load-balancer-security-groups`)."),
    entry("aws-load-balancer-access-log-emit-interval", STRING, "", "In-tree only; no effect."),
];

/// The spec of a key suffix (after [`SERVICE_PREFIX`]).
pub fn lookup_service(suffix: &str) -> Option<&'static ServiceAnnotationSpec> {
    SERVICE_ANNOTATIONS.iter().find(|spec| {
        if spec.templated() {
            suffix.starts_with(spec.suffix)
        } else {
            suffix == spec.suffix
        }
    })
}

/// The same parse the model builder uses, for admission: one error per bad key, and the
/// unknown `aws-load-balancer-*` keys.
pub fn check_service_annotations(annotations: &Annotations) -> Report {
    let errors = match ServiceAnnotations::parse(annotations) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    };
    let unknown = annotations
        .keys()
        .filter_map(|key| {
            let suffix = key.strip_prefix(SERVICE_PREFIX)?;
            (suffix.starts_with(NLB_HEAD) && lookup_service(suffix).is_none())
                .then(|| unknown_service_key(key, suffix))
        })
        .collect();
    Report { errors, unknown }
}

fn unknown_service_key(key: &str, suffix: &str) -> UnknownAnnotation {
    let suggestion = SERVICE_ANNOTATIONS
        .iter()
        .filter(|spec| !spec.templated())
        .map(|spec| (edit_distance(&suffix.to_lowercase(), spec.suffix), spec))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, spec)| spec.key());
    UnknownAnnotation {
        key: key.to_owned(),
        suggestion,
    }
}

impl ServiceAnnotations {
    /// Parses every NLB annotation present; `Err` lists every bad key, in key order.
    pub fn parse(annotations: &Annotations) -> Result<Self, Vec<AnnotationError>> {
        let mut r = Reader::with_prefix(annotations, SERVICE_PREFIX);
        let list = |raw: &str| Ok(parse_string_list(raw));
        let string = |raw: &str| Ok(raw.to_owned());
        let parsed = Self {
            load_balancer_type: r.get("aws-load-balancer-type", string),
            target_type: r.get("aws-load-balancer-nlb-target-type", parse_enum),
            name: r.get("aws-load-balancer-name", parse_name),
            scheme: r.get("aws-load-balancer-scheme", |raw| {
                raw.parse().map_err(|_| format!("unknown scheme: {raw}"))
            }),
            internal: r.get("aws-load-balancer-internal", parse_bool),
            ip_address_type: r.get("aws-load-balancer-ip-address-type", |raw| {
                raw.parse().map_err(|_| format!("unknown IPAddressType: {raw}"))
            }),
            subnets: r.get("aws-load-balancer-subnets", list),
            eip_allocations: r.get("aws-load-balancer-eip-allocations", list),
            private_ipv4_addresses: r.get("aws-load-balancer-private-ipv4-addresses", |raw| {
                parse_addresses(raw, true)
            }),
            ipv6_addresses: r.get("aws-load-balancer-ipv6-addresses", |raw| {
                parse_addresses(raw, false)
            }),
            enable_prefix_for_ipv6_source_nat: r.get(
                "aws-load-balancer-enable-prefix-for-ipv6-source-nat",
                |raw| {
                    raw.parse().map_err(|_| {
                        format!("Invalid enable-prefix-for-ipv6-source-nat value: {raw}. Valid values are ['on', 'off'].")
                    })
                },
            ),
            source_nat_ipv6_prefixes: r.get(
                "aws-load-balancer-source-nat-ipv6-prefixes",
                parse_source_nat_prefixes,
            ),
            source_ranges: r.get("load-balancer-source-ranges", parse_cidrs),
            security_group_prefix_lists: r
                .get("aws-load-balancer-security-group-prefix-lists", list),
            security_groups: r.get("aws-load-balancer-security-groups", list),
            manage_backend_security_group_rules: r.get(
                "aws-load-balancer-manage-backend-security-group-rules",
                parse_bool,
            ),
            disable_nlb_security_group: r.get("aws-load-balancer-disable-nlb-sg", parse_bool),
            inbound_sg_rules_on_private_link: r.get(
                "aws-load-balancer-inbound-sg-rules-on-private-link-traffic",
                |raw| {
                    raw.parse().map_err(|_| {
                        format!("Invalid value for securityGroupsInboundRulesOnPrivateLink status: {raw}, value must be one of [on, off]")
                    })
                },
            ),
            icmp_for_path_mtu_discovery: r
                .get("aws-load-balancer-enable-icmp-for-path-mtu-discovery", string)
                .is_some_and(|v| v == "on"),
            ssl_cert: r.get("aws-load-balancer-ssl-cert", list),
            ssl_ports: r.get("aws-load-balancer-ssl-ports", list),
            ssl_negotiation_policy: r.get("aws-load-balancer-ssl-negotiation-policy", string),
            alpn_policy: r.get("aws-load-balancer-alpn-policy", |raw| {
                raw.parse().map_err(|_| {
                    format!("invalid ALPN policy {raw}, policy must be one of [None, HTTP1Only, HTTP2Only, HTTP2Optional, HTTP2Preferred]")
                })
            }),
            backend_protocol_ssl: r
                .get("aws-load-balancer-backend-protocol", string)
                .is_some_and(|v| v == "ssl"),
            quic_enabled_ports: r.get("aws-load-balancer-quic-enabled-ports", list),
            enable_tcp_udp_listener: r.get("aws-load-balancer-enable-tcp-udp-listener", parse_bool),
            listener_attributes: r.family("aws-load-balancer-listener-attributes.", |param, raw| {
                let key = parse_listener_param(param)?;
                Ok((key, parse_string_map(raw)?))
            }),
            health_check_protocol: r.get("aws-load-balancer-healthcheck-protocol", |raw| {
                raw.to_uppercase()
                    .parse()
                    .map_err(|_| format!("unsupported health check protocol {raw}"))
            }),
            health_check_port: r.get("aws-load-balancer-healthcheck-port", |raw| {
                HealthCheckPort::parse(raw, true)
            }),
            health_check_path: r.get("aws-load-balancer-healthcheck-path", string),
            health_check_interval: r.get("aws-load-balancer-healthcheck-interval", parse_i32),
            health_check_timeout: r.get("aws-load-balancer-healthcheck-timeout", parse_i32),
            health_check_healthy_threshold: r
                .get("aws-load-balancer-healthcheck-healthy-threshold", parse_i32),
            health_check_unhealthy_threshold: r
                .get("aws-load-balancer-healthcheck-unhealthy-threshold", parse_i32),
            health_check_success_codes: r.get(
                "aws-load-balancer-healthcheck-success-codes",
                parse_nlb_success_codes,
            ),
            target_group_attributes: r.get(
                "aws-load-balancer-target-group-attributes",
                parse_target_group_attributes,
            ),
            port_target_group_attributes: r.family(
                "aws-load-balancer-target-group-attributes.",
                |param, raw| {
                    let port = param.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                        format!("invalid port {param:?} in the key, want a Service port number")
                    })?;
                    Ok((port, parse_target_group_attributes(raw)?))
                },
            ),
            proxy_protocol_all: r
                .get("aws-load-balancer-proxy-protocol", |raw| {
                    if raw == "*" {
                        Ok(())
                    } else {
                        Err(format!("invalid value {raw} for Load Balancer proxy protocol v2 annotation, only value currently supported is *"))
                    }
                })
                .is_some(),
            proxy_protocol_ports: r.get(
                "aws-load-balancer-proxy-protocol-per-target-group",
                |raw| {
                    parse_string_list(raw)
                        .iter()
                        .map(|p| {
                            p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                                format!("invalid port number in proxy-protocol-per-target-group: {p}")
                            })
                        })
                        .collect()
                },
            ),
            load_balancer_attributes: r.get(
                "aws-load-balancer-attributes",
                parse_load_balancer_attributes,
            ),
            access_log_enabled: r.get("aws-load-balancer-access-log-enabled", parse_bool),
            access_log_bucket: r.get("aws-load-balancer-access-log-s3-bucket-name", string),
            access_log_prefix: r.get("aws-load-balancer-access-log-s3-bucket-prefix", string),
            cross_zone_load_balancing: r.get(
                "aws-load-balancer-cross-zone-load-balancing-enabled",
                parse_bool,
            ),
            minimum_capacity_units: r
                .get(
                    "aws-load-balancer-minimum-load-balancer-capacity",
                    parse_minimum_capacity,
                )
                .flatten(),
            additional_tags: r.get("aws-load-balancer-additional-resource-tags", parse_tags),
            target_node_labels: r.get("aws-load-balancer-target-node-labels", parse_string_map),
            multi_cluster_target_group: r
                .get("aws-load-balancer-multi-cluster-target-group", parse_bool),
        };
        // Weighted forwarding is not built yet: refused rather than accepted and ignored.
        let _: BTreeMap<String, ()> = r.family("actions.", |param, _| {
            Err::<(String, ()), _>(format!(
                "actions on Service listeners ({param}) are not supported yet: this controller does not build weighted forwarding for NLBs; remove the annotation"
            ))
        });
        r.finish(parsed)
    }
}

/// `aws-load-balancer-name`: at most 32 characters.
fn parse_name(raw: &str) -> Result<String, String> {
    if raw.chars().count() > 32 {
        return Err("load balancer name cannot be longer than 32 characters".to_owned());
    }
    Ok(raw.to_owned())
}

fn parse_cidrs(raw: &str) -> Result<Vec<Cidr>, String> {
    parse_string_list(raw)
        .iter()
        .map(|cidr| cidr.parse::<Cidr>())
        .collect()
}

/// A list of IPv4 (`v4`) or IPv6 addresses.
fn parse_addresses(raw: &str, v4: bool) -> Result<Vec<String>, String> {
    let items = parse_string_list(raw);
    for item in &items {
        let ok = match item.parse::<std::net::IpAddr>() {
            Ok(addr) => addr.is_ipv4() == v4,
            Err(_) => false,
        };
        if !ok {
            return Err(if v4 {
                format!("private IPv4 addresses must be valid IPv4 address: {item}")
            } else {
                format!("IPv6 addresses must be valid IPv6 address: {item}")
            });
        }
    }
    Ok(items)
}

fn parse_source_nat_prefixes(raw: &str) -> Result<Vec<String>, String> {
    let items = parse_string_list(raw);
    for item in &items {
        if item == AUTO_ASSIGNED {
            continue;
        }
        let cidr: Cidr = item.parse().map_err(|_| {
            format!("Invalid value in source-nat-ipv6-prefixes: {item}. Value must be a valid IPv6 CIDR or auto_assigned.")
        })?;
        if cidr.is_ipv4() {
            return Err(format!(
                "Invalid value in source-nat-ipv6-prefixes: {item}. Value must be a valid IPv6 CIDR or auto_assigned."
            ));
        }
        if cidr.prefix_len != 80 {
            return Err(format!(
                "Invalid value in source-nat-ipv6-prefixes: {item}. Prefix length must be 80, but {} is specified.",
                cidr.prefix_len
            ));
        }
    }
    Ok(items)
}

/// `<Protocol>-<Port>` of a listener-attributes key.
fn parse_listener_param(param: &str) -> Result<String, String> {
    const PROTOCOLS: [&str; 6] = ["TCP", "UDP", "TCP_UDP", "TLS", "QUIC", "TCP_QUIC"];
    let valid = param.rsplit_once('-').is_some_and(|(protocol, port)| {
        PROTOCOLS.contains(&protocol) && port.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if valid {
        Ok(param.to_owned())
    } else {
        Err(format!(
            "invalid listener {param:?} in the key, want <Protocol>-<Port> with Protocol one of {}",
            PROTOCOLS.join(", ")
        ))
    }
}

/// NLB health-check success codes: codes or `low-high` ranges within [200, 599].
fn parse_nlb_success_codes(raw: &str) -> Result<String, String> {
    let code = |s: &str| -> Option<u16> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
            .filter(|c| (200..=599).contains(c))
    };
    let ok = raw.split(',').all(|item| match item.split_once('-') {
        Some((low, high)) => matches!((code(low), code(high)), (Some(l), Some(h)) if l <= h),
        None => code(item).is_some(),
    });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "invalid success codes {raw:?}, want HTTP codes or ranges within 200-599 such as 200, 200,202 or 200-399"
        ))
    }
}

/// Target group attributes; `preserve_client_ip.enabled` and `proxy_protocol_v2.enabled`
/// must be bools.
fn parse_target_group_attributes(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let attributes = parse_string_map(raw)?;
    for key in ["preserve_client_ip.enabled", "proxy_protocol_v2.enabled"] {
        if let Some(value) = attributes.get(key) {
            parse_bool(value)
                .map_err(|e| format!("failed to parse attribute {key}={value}: {e}"))?;
        }
    }
    Ok(attributes)
}

fn parse_load_balancer_attributes(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let attributes = parse_string_map(raw)?;
    if let Some(policy) = attributes.get("dns_record.client_routing_policy")
        && !CLIENT_ROUTING_POLICIES.contains(&policy.as_str())
    {
        return Err(format!(
            "invalid dns_record.client_routing_policy set in annotation aws-load-balancer-attributes: got '{policy}' expected one of ['any_availability_zone', 'partial_availability_zone_affinity', 'availability_zone_affinity']"
        ));
    }
    for key in [
        "deletion_protection.enabled",
        "load_balancing.cross_zone.enabled",
        "access_logs.s3.enabled",
    ] {
        if let Some(value) = attributes.get(key) {
            parse_bool(value)
                .map_err(|e| format!("failed to parse attribute {key}={value}: {e}"))?;
        }
    }
    Ok(attributes)
}

/// `CapacityUnits=<n>`; an empty map is no reservation.
fn parse_minimum_capacity(raw: &str) -> Result<Option<i32>, String> {
    let map = parse_string_map(raw)?;
    let mut units = None;
    for (key, value) in map {
        if key != "CapacityUnits" {
            return Err(format!(
                "invalid key to set the capacity: {key}, Expected key: CapacityUnits"
            ));
        }
        units = Some(
            value
                .parse::<i32>()
                .map_err(|_| format!("invalid value to set the capacity: {value}"))?,
        );
    }
    Ok(units)
}
