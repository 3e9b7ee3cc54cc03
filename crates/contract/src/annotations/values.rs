//! Small typed values shared by several annotations.

use super::primitives::{parse_port, parse_string_map, string_enum};
use serde::Serialize;
use std::collections::BTreeMap;

string_enum! {
    /// `scheme` / `frontend-nlb-scheme`.
    pub enum Scheme as "scheme" {
        Internal = "internal",
        InternetFacing = "internet-facing",
    }
}

string_enum! {
    /// `ip-address-type`.
    pub enum IpAddressType as "IPAddressType" {
        Ipv4 = "ipv4",
        Dualstack = "dualstack",
        DualstackWithoutPublicIpv4 = "dualstack-without-public-ipv4",
    }
}

string_enum! {
    /// `target-type`.
    pub enum TargetType as "targetType" {
        Instance = "instance",
        Ip = "ip",
    }
}

string_enum! {
    /// An ALB listener or target group protocol.
    pub enum Protocol as "protocol" {
        Http = "HTTP",
        Https = "HTTPS",
    }
}

string_enum! {
    /// `backend-protocol-version`.
    pub enum ProtocolVersion as "protocolVersion" {
        Http1 = "HTTP1",
        Http2 = "HTTP2",
        Grpc = "GRPC",
    }
}

/// A WAF setting: a Web ACL to associate, or `none` (or an empty value) to disassociate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WafSetting {
    /// `wafv2-acl-arn`: a WAFv2 Web ACL ARN.
    Arn(String),
    /// `wafv2-acl-name`: a WAFv2 Web ACL name, resolved via `wafv2:ListWebACLs`.
    Name(String),
    /// `waf-acl-id` / `web-acl-id`: a WAF Classic regional Web ACL id.
    Id(String),
    /// Remove any association.
    None,
}

impl WafSetting {
    /// Builds the setting from a raw value with `make` for a non-`none` value.
    pub fn parse(raw: &str, make: fn(String) -> Self) -> Self {
        match raw.trim() {
            "" | "none" => Self::None,
            value => make(value.to_owned()),
        }
    }

    /// The ARN, name or id, or `None` when the setting disassociates.
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::Arn(v) | Self::Name(v) | Self::Id(v) => Some(v),
            Self::None => None,
        }
    }
}

/// The port a target group health check probes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HealthCheckPort {
    /// `traffic-port`: the port traffic is sent to.
    TrafficPort,
    /// An explicit port number.
    Port(u16),
    /// A named Service port, resolved against the backing Service.
    Named(String),
}

impl Serialize for HealthCheckPort {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::TrafficPort => serializer.serialize_str(Self::TRAFFIC_PORT),
            Self::Port(port) => serializer.serialize_u16(*port),
            Self::Named(name) => serializer.serialize_str(name),
        }
    }
}

impl HealthCheckPort {
    pub const TRAFFIC_PORT: &'static str = "traffic-port";

    /// Parses `traffic-port`, a port number, or (if `allow_named`) a Service port name.
    pub fn parse(raw: &str, allow_named: bool) -> Result<Self, String> {
        if raw == Self::TRAFFIC_PORT {
            return Ok(Self::TrafficPort);
        }
        if raw.parse::<i64>().is_ok() {
            return parse_port(raw, "health check port").map(Self::Port);
        }
        if allow_named && is_port_name(raw) {
            return Ok(Self::Named(raw.to_owned()));
        }
        let want = if allow_named {
            "traffic-port, a port number or a Service port name"
        } else {
            "traffic-port or a port number"
        };
        Err(format!("invalid health check port {raw:?}, want {want}"))
    }
}

/// Whether `name` can name a Service port (a DNS-1123 label): 1-63 lower-case alphanumerics or
/// '-', starting and ending with an alphanumeric.
pub fn is_port_name(name: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    name.len() <= 63
        && name.as_bytes().first().is_some_and(alnum)
        && name.as_bytes().last().is_some_and(alnum)
        && name.bytes().all(|b| alnum(&b) || b == b'-')
}

/// Validates target group success codes: comma-separated codes or `low-high` ranges, each
/// within [0, 599] (HTTP codes 200-499, GRPC codes 0-99).
pub fn parse_success_codes(raw: &str) -> Result<String, String> {
    let invalid = || {
        format!(
            "invalid success codes {raw:?}, want codes or ranges such as 200, 200,202 or 200-299 (GRPC: 0-99)"
        )
    };
    let code = |s: &str| -> Option<u16> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
            .filter(|c| *c <= 599)
    };
    for item in raw.split(',') {
        let item = item.trim();
        let ok = match item.split_once('-') {
            Some((low, high)) => {
                matches!((code(low.trim()), code(high.trim())), (Some(l), Some(h)) if l <= h)
            }
            None => code(item).is_some(),
        };
        if !ok {
            return Err(invalid());
        }
    }
    Ok(raw.to_owned())
}

/// Tag keys the controller writes to track what it owns; users may not set them.
pub const RESERVED_TAG_KEYS: &[&str] = &[
    "elbv2.k8s.aws/cluster",
    "ingress.k8s.aws/stack",
    "ingress.k8s.aws/resource",
];

fn valid_tag_chars(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
    })
}

/// Validates AWS resource tags: key 1-128 and value 0-256 characters from letters, digits,
/// spaces and `_ . : / = + - @`; no `aws:` prefix; no key reserved for the controller.
pub fn validate_tags(tags: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    for (key, value) in tags {
        if RESERVED_TAG_KEYS.contains(&key.as_str()) {
            return Err(format!("tag key {key:?} is reserved for the controller"));
        }
        if key.to_lowercase().starts_with("aws:") {
            return Err(format!(
                "tag key {key:?} uses the prefix \"aws:\" reserved by AWS"
            ));
        }
        if key.chars().count() > 128 {
            return Err(format!("tag key {key:?} is longer than 128 characters"));
        }
        if value.chars().count() > 256 {
            return Err(format!(
                "tag value of key {key:?} is longer than 256 characters"
            ));
        }
        if !valid_tag_chars(key) || !valid_tag_chars(value) {
            return Err(format!(
                "tag {key:?}={value:?} may only contain letters, digits, spaces and _ . : / = + - @"
            ));
        }
    }
    Ok(())
}

/// `tags` (and the Service-level TG tags): a string map of valid AWS tags.
pub fn parse_tags(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let tags = parse_string_map(raw)?;
    validate_tags(&tags)?;
    Ok(tags)
}
